"""The embedded default dataset: "shapes & textures", generated here, never downloaded.

Each 32x32 RGB image holds one large *target* object; its class is the pair (shape, fill
texture). Ten classes use 5 shapes (circle, square, triangle, cross, ring) and 5 textures
(horizontal stripes, vertical stripes, checker, dots, plain) in a cyclic design: every shape
and every texture occurs in exactly two classes, so neither cue alone gets past 50%; the model
has to bind the texture to the shape it fills. Label-irrelevant clutter makes it a
recognition problem rather than a template match:
  * random position, size (radius 8-12 px), rotation, stripe/dot phase, period (5-8 px)
    and orientation jitter (+-20 degrees, so "horizontal" vs "vertical" stays defined);
  * a muted background: a colour gradient plus a smooth colour field, and mild pixel noise;
  * 0-3 smaller distractor objects (any shape, any texture) behind the target: which object
    is the target is only decided by its size relative to the others (spatial layout);
  * with probability 0.3, a solid occluding bar drawn across the target.

Colours follow natural-image statistics rather than the uniform RGB cube: backgrounds are
muted (chroma <= 0.12); an object's base colour is more saturated, keeps away from mid-grey
and stands out from the background (RGB distance >= 0.3); its pattern colour has a similar
hue on the other side of mid-grey (markings contrast in luminance). As with real
categories, colour is weak evidence: 85% of objects take their texture's typical hue
(72 degrees apart, +-40), the rest any hue. Pooled colour thus hints at the texture (never
the shape); a linear classifier on raw pixels gets 35% val (CIFAR-10: 37%).

Why the colour statistics matter (measured, see below): for its first few hundred steps a
ConvNeXt is its block-free skeleton, because LayerScale starts at 1e-6 (on CIFAR-10 the
skeleton's 150-step loss curve matches the full network's within 0.02): patchify convs and
per-position LayerNorm, which only exploit evidence that survives pooling of near-linear
features, such as colour and coarse layout. An earlier version drew every colour uniformly
(linear probe 12%), so all evidence was in phase-invariant texture and shape features;
worse, per-position LayerNorm divides a patch's features by its colour's distance from the
normalisation mean, which blows flat near-mean regions' pixel noise up to full scale and
squeezes two pattern colours on the same side of the mean together. BatchNorm ResNets
learnt it, the LayerNorm ConvNeXt sat at chance (loss 2.31 after 150 steps).

Determinism (identical bytes on every machine): randomness comes only from seeded numpy
Generators (PCG64 uniform/integer streams, the same on every platform for a given numpy;
Gaussian sampling is avoided because it calls log/exp), and pixels only see +, -, *, /,
floor and comparisons, which IEEE rounds identically everywhere. The few cos/sin values
come from `math` on a 1-degree table snapped to multiples of 2**-12 (as is the chroma-plane
basis), so SIMD transcendental differences between CPUs cannot flip a pixel. The content
fingerprint in DataSplits would reveal any drift (e.g. a future numpy changing a stream).
Objects are rendered at 2x and box-filtered down, which anti-aliases their edges.

Measured on the 2-core dev machine (AMD EPYC, numpy 2.4.6, torch CPU): the default 5,000
train + 1,000 val images take about 2 s to generate. Sanity checks run from /tmp (not in the
repo), inputs scaled to (x/255 - 0.5) / 0.25, no augmentation, batch 64:
  * timm ConvNeXt(depths=(1,1,3,1), dims=(24,48,96,192), patch_size=2), AdamW lr 3e-3,
    wd 0.05: mean train loss per 30 steps over the first 150 steps 2.17, 1.82, 1.78, 1.76,
    1.74 (the same net on 5,000 CIFAR-10 images: 2.12, 1.97, 1.89, 1.86, 1.80); 30.3% val
    accuracy after 1 epoch, 31.4% after 2;
  * timm ResNet(Bottleneck, [1,1,2,1], base_width=16, stem_width=16), same optimiser: 2.74,
    1.60, 1.37, 1.03, 1.03; 46.2% val after 1 epoch, 47.3% after 2;
  * a 3-conv-layer CNN (32-64-128 channels, BN, ReLU, max-pool, global average pool,
    linear; Adam lr 1e-3): 53.0% val after 1 epoch, 66.3% after 2, 71.8% after 5, 71.5%
    after 10 (chance 10%). Its errors are mostly shape confusions within a texture
    (vstriped circle/square, checkered square/triangle, dotted triangle/cross): shape,
    which needs a larger receptive field than texture, is the hard part.
With a smoke-recipe-like schedule (6 epochs, batch 128, 1 warm-up epoch then cosine,
label smoothing 0.1, flips) the ConvNeXt reaches 40.8% val and the ResNet 68.7%.
"""

from __future__ import annotations

import math

import numpy as np

SHAPES = ("circle", "square", "triangle", "cross", "ring")
TEXTURES = ("hstriped", "vstriped", "checkered", "dotted", "plain")
# Cyclic design: shape i with textures i and i+1 (mod 5).
CLASS_PAIRS = tuple((s, t) for s in range(5) for t in (s, (s + 1) % 5))
CLASSES = tuple(f"{TEXTURES[t]}-{SHAPES[s]}" for s, t in CLASS_PAIRS)

EMBEDDED_VAL = 100  # validation images per class unless "embedded:N:V" says otherwise
EMBEDDED_MAX = 5000  # images per class: 50,000 of 32 px, as CIFAR-10; more is a typo, not a data set

_SUPERSAMPLE = 2
_CHUNK = 500  # images rendered at once: bounds memory at ~100 MB
_FIELD = 4  # the background's smooth colour field: a 4x4 grid, bilinearly interpolated

# Colour model (RGB in 0..1, "grey level" = mean of R, G, B).
_TEXTURE_HUE = 72  # texture t's typical hue is t * 72 degrees...
_HUE_JITTER = 40  # ... +- this much ...
_P_TYPICAL = 0.85  # ... for this share of objects; the rest get any hue
_MIN_OFFSET = 0.12  # an object's base grey level keeps this far from mid-grey 0.5
_MIN_CONTRAST = 0.3  # RGB distance between an object's base colour and the background mean

# cos/sin for integer degrees, snapped to a dyadic grid (see module docstring).
_COS = np.array([round(math.cos(math.radians(d)) * 4096) / 4096 for d in range(360)], np.float32)
_SIN = np.array([round(math.sin(math.radians(d)) * 4096) / 4096 for d in range(360)], np.float32)
# An orthonormal basis of the chroma plane (orthogonal to grey), on the same dyadic grid.
_CHROMA = np.array([[2896, -2896, 0], [1672, 1672, -3344]], np.float32) / 4096


def make_embedded(n_train_per_class: int = 500, n_val_per_class: int = EMBEDDED_VAL, size: int = 32,
                  seed: int = 0):
    """Return (x_train, y_train, x_val, y_val, classes): uint8 (N,size,size,3), int64 (N,), names.

    Train and val come from separate seed streams, so changing one split's size leaves the
    other unchanged. Geometry is defined in 32-pixel units and scaled to `size`.
    """
    if min(n_train_per_class, n_val_per_class) < 1 or size < 8:
        raise ValueError("make_embedded needs at least 1 image per class and size >= 8")
    x_train, y_train = _make_split(n_train_per_class, size, np.random.default_rng([seed, 0]))
    x_val, y_val = _make_split(n_val_per_class, size, np.random.default_rng([seed, 1]))
    return x_train, y_train, x_val, y_val, list(CLASSES)


def _make_split(n_per_class: int, size: int, rng: np.random.Generator):
    y = rng.permutation(np.repeat(np.arange(len(CLASSES), dtype=np.int64), n_per_class))
    x = np.empty((len(y), size, size, 3), np.uint8)
    for start in range(0, len(y), _CHUNK):
        x[start:start + _CHUNK] = _render(y[start:start + _CHUNK], size, rng)
    return x, y


def _uniform(rng, lo, hi, shape):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def _colour(hue, chroma, grey):
    """(n, 3) RGB: grey level `grey` plus `chroma` along hue angle `hue` (integer degrees)."""
    h = np.asarray(hue) % 360
    direction = _COS[h][:, None] * _CHROMA[0] + _SIN[h][:, None] * _CHROMA[1]
    return np.clip(grey[:, None] + chroma[:, None] * direction, 0, 1).astype(np.float32)


def _object_colours(rng, texture, bg_mean):
    """Base colour c1 and pattern colour c2 of n objects, drawn as described in the docstring."""
    n = len(texture)
    typical = rng.random(n) < _P_TYPICAL
    hue = np.where(typical, texture * _TEXTURE_HUE + rng.integers(-_HUE_JITTER, _HUE_JITTER + 1, n),
                   rng.integers(0, 360, n))
    chroma = _uniform(rng, 0.12, 0.3, n)

    def base_grey(k):  # uniform on [0.1, 0.5 - offset] u [0.5 + offset, 0.9]
        g = _uniform(rng, 0.1, 0.9 - 2 * _MIN_OFFSET, k)
        return np.where(g < 0.5 - _MIN_OFFSET, g, g + 2 * _MIN_OFFSET).astype(np.float32)

    grey = base_grey(n)
    c1 = _colour(hue, chroma, grey)
    while True:  # vectorised rejection: the object must stand out from its background
        bad = np.sqrt(((c1 - bg_mean) ** 2).sum(-1)) < _MIN_CONTRAST
        if not bad.any():
            break
        grey[bad] = base_grey(int(bad.sum()))
        c1 = _colour(hue, chroma, grey)
    # The pattern colour lies on the other side of mid-grey: markings contrast with the base.
    step = _uniform(rng, 0.15, 0.35, n)
    grey2 = np.where(grey < 0.5, 0.5 + step, 0.5 - step)
    c2 = _colour(hue + rng.integers(-30, 31, n), chroma * _uniform(rng, 0.5, 1, n), grey2)
    return c1, c2


def _render(y, size, rng):
    """Draw images of classes `y`: uint8 (n, size, size, 3).

    Works channel-first (n, 3, H, W) in float32: broadcasting per-image colours over a
    trailing axis of length 3 is several times slower in numpy.
    """
    n = len(y)
    unit = size / 32.0  # all geometry below is in 32-px units
    side = size * _SUPERSAMPLE
    scale = unit * _SUPERSAMPLE  # subpixels per 32-px unit
    coords = (np.arange(side, dtype=np.float32) + 0.5) / np.float32(scale)
    gx, gy = coords[None, None, :], coords[None, :, None]
    col = lambda a: a[:, None, None]  # noqa: E731 - per-image scalar -> broadcastable
    rgb = lambda a: a[:, :, None, None]  # noqa: E731 - per-image colour -> broadcastable

    # Background: a muted colour, a linear gradient to a neighbouring colour along a random
    # direction, and a smooth colour field (a 4x4 grid of offsets, bilinearly interpolated).
    hue = rng.integers(0, 360, n)
    grey = _uniform(rng, 0.25, 0.75, n)
    bg0 = _colour(hue, _uniform(rng, 0, 0.12, n), grey)
    bg1 = _colour(hue + rng.integers(-40, 41, n), _uniform(rng, 0, 0.12, n),
                  np.clip(grey + _uniform(rng, -0.2, 0.2, n), 0, 1))
    deg = rng.integers(0, 360, n)
    ramp = (col(_COS[deg]) * (gx - 16) + col(_SIN[deg]) * (gy - 16)) / 45 + 0.5
    img = rgb(bg0) + ramp[:, None] * rgb(bg1 - bg0)
    field = _uniform(rng, -0.08, 0.08, (n, 3, _FIELD, _FIELD))
    t = (np.arange(side, dtype=np.float32) + 0.5) * np.float32((_FIELD - 1) / side)
    i0 = np.minimum(np.floor(t).astype(np.int64), _FIELD - 2)
    w = t - i0.astype(np.float32)
    rows = field[:, :, i0] * (1 - w)[:, None] + field[:, :, i0 + 1] * w[:, None]
    img += rows[..., i0] * (1 - w) + rows[..., i0 + 1] * w
    bg_mean = (bg0 + bg1) / 2

    # Distractors first, so the target is drawn over them.
    n_distract = rng.integers(0, 4, n)
    for k in range(3):
        on = n_distract > k
        shape = rng.integers(0, len(SHAPES), n)
        texture = rng.integers(0, len(TEXTURES), n)
        radius = _uniform(rng, 2.5, 4.5, n)
        cx, cy = _uniform(rng, 2, 30, n), _uniform(rng, 2, 30, n)
        c1, c2 = _object_colours(rng, texture, bg_mean)
        _draw_object(img, on, shape, texture, cx, cy, radius, c1, c2, coords, scale, rng)

    shape = np.array([CLASS_PAIRS[c][0] for c in y])
    texture = np.array([CLASS_PAIRS[c][1] for c in y])
    radius = _uniform(rng, 8, 12, n)
    cx = _uniform(rng, 0, 1, n) * (32 - 1.4 * radius) + 0.7 * radius
    cy = _uniform(rng, 0, 1, n) * (32 - 1.4 * radius) + 0.7 * radius
    c1, c2 = _object_colours(rng, texture, bg_mean)
    _draw_object(img, np.ones(n, bool), shape, texture, cx, cy, radius, c1, c2, coords, scale, rng)

    # Occluding bar of a muted colour through a point near the target.
    on = rng.random(n) < 0.3
    deg = rng.integers(0, 360, n)
    px = cx + _uniform(rng, -0.6, 0.6, n) * radius
    py = cy + _uniform(rng, -0.6, 0.6, n) * radius
    width = _uniform(rng, 1.5, 3, n)
    dist = -col(_SIN[deg]) * (gx - col(px)) + col(_COS[deg]) * (gy - col(py))
    mask = (np.abs(dist) < col(width) / 2) & col(on)
    bar = _colour(rng.integers(0, 360, n), _uniform(rng, 0, 0.25, n), _uniform(rng, 0.1, 0.9, n))
    np.copyto(img, np.broadcast_to(rgb(bar), img.shape), where=mask[:, None])

    # 2x2 box filter down to `size` (matches _SUPERSAMPLE = 2), then noise in [-0.03, 0.03].
    s = _SUPERSAMPLE
    img = img.reshape(n, 3, size, s, size, s)
    small = (img[:, :, :, 0, :, 0] + img[:, :, :, 1, :, 0]
             + img[:, :, :, 0, :, 1] + img[:, :, :, 1, :, 1])
    small = small / 4 + _uniform(rng, -0.03, 0.03, (n, 3, size, size))
    return np.round(np.clip(small, 0, 1) * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def _draw_object(img, on, shape, texture, cx, cy, radius, c1, c2, coords, scale, rng):
    """Paint one object per image (where `on`) into img (n, 3, H, W) in place: base colour c1,
    pattern colour c2 (n, 3).

    Work happens in a per-image square window just large enough for the object (objects
    reach at most 1.13 radius from their centre): small distractors then cost a tenth of
    a full frame. `coords[k]` is the 32-px-unit position of subpixel k, `scale` subpixels
    per unit.
    """
    n, side = len(shape), img.shape[-1]
    win = min(side, int(np.ceil(2 * 1.15 * float(radius.max()) * scale)) + 2)
    full = win > 0.75 * side  # scattering costs more than it saves for big objects
    if full:
        win = side
        xs = ys = np.broadcast_to(np.arange(side), (n, side))
    else:
        ar = np.arange(win)
        xs = np.clip(np.round(cx * scale).astype(np.int64) - win // 2, 0, side - win)[:, None] + ar
        ys = np.clip(np.round(cy * scale).astype(np.int64) - win // 2, 0, side - win)[:, None] + ar
    col = lambda a: a[:, None, None]  # noqa: E731 - per-image scalar -> broadcastable
    dx, dy = coords[xs][:, None, :] - col(cx), coords[ys][:, :, None] - col(cy)
    deg = rng.integers(0, 360, n)
    c, s = col(_COS[deg]), col(_SIN[deg])
    u, v = c * dx + s * dy, -s * dx + c * dy
    r = col(radius)
    r2 = dx * dx + dy * dy

    mask = np.zeros((n, win, win), bool)
    for k, name in enumerate(SHAPES):
        i = np.flatnonzero((shape == k) & on)
        if len(i) == 0:
            continue
        ui, vi, ri, r2i = u[i], v[i], r[i], r2[i]
        if name == "circle":
            m = r2i < ri * ri
        elif name == "square":
            m = np.maximum(np.abs(ui), np.abs(vi)) < 0.8 * ri
        elif name == "triangle":  # equilateral, circumradius 1.1 r, centroid at the centre
            h = 0.55 * ri
            m = (vi < h) & (-0.8660254 * ui - 0.5 * vi < h) & (0.8660254 * ui - 0.5 * vi < h)
        elif name == "cross":
            a, b = np.abs(ui), np.abs(vi)
            m = ((a < 0.3 * ri) & (b < ri)) | ((b < 0.3 * ri) & (a < ri))
        else:  # ring
            m = (r2i < ri * ri) & (r2i > 0.3 * ri * ri)
        mask[i] = m

    # Texture in image axes (jittered), so "horizontal" and "vertical" keep their meaning.
    jitter = rng.integers(-20, 21, n) % 360
    jc, js = col(_COS[jitter]), col(_SIN[jitter])
    period = col(_uniform(rng, 5, 8, n))
    phase = col(_uniform(rng, 0, 1, n))
    a = (jc * dx + js * dy) / period + phase  # in periods
    b = (-js * dx + jc * dy) / period + phase
    pattern = np.zeros(mask.shape, np.float32)
    for k, name in enumerate(TEXTURES):
        i = np.flatnonzero((texture == k) & on)
        if len(i) == 0 or name == "plain":
            continue
        ai, bi = a[i], b[i]
        if name == "hstriped":
            p = np.floor(2 * bi) % 2
        elif name == "vstriped":
            p = np.floor(2 * ai) % 2
        elif name == "checkered":
            p = (np.floor(2 * ai) + np.floor(2 * bi)) % 2
        else:  # dotted: one dot of radius 0.28 period (1.4-2.3 px) per period cell
            fa, fb = ai - np.floor(ai) - 0.5, bi - np.floor(bi) - 0.5
            p = fa * fa + fb * fb < 0.08
        pattern[i] = p

    paint = c1[:, :, None, None] + pattern[:, None] * (c2 - c1)[:, :, None, None]
    if full:
        np.copyto(img, paint, where=mask[:, None])
    else:  # write only the object's pixels, addressed in the flat image buffer
        flat = ((np.arange(n)[:, None, None, None] * 3 + np.arange(3)[None, :, None, None]) * side
                + ys[:, None, :, None]) * side + xs[:, None, None, :]
        hit = np.broadcast_to(mask[:, None], flat.shape)
        np.put(img, flat[hit], paint[hit])
