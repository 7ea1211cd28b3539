"""Tests for roadmap.train.data: embedded generator, ImageFolder, CIFAR pickles, .npz folders."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from roadmap.train.data import DataSplits, data_name, load_data, make_embedded
from roadmap.errors import RoadmapError

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Pins the exact bytes of the default embedded set: the generator promises identical data
# on every machine. Change it only together with a deliberate change of the generator.
EMBEDDED_FINGERPRINT = "243802da496325ca"


def _is_hex16(s: str) -> bool:
    return len(s) == 16 and all(c in "0123456789abcdef" for c in s)


# ---------------------------------------------------------------- embedded


def test_make_embedded_is_deterministic_and_balanced():
    a = make_embedded(n_train_per_class=20, n_val_per_class=5)
    b = make_embedded(n_train_per_class=20, n_val_per_class=5)
    x_train, y_train, x_val, y_val, classes = a
    for u, v in zip(a[:4], b[:4]):
        assert np.array_equal(u, v)
    assert x_train.shape == (200, 32, 32, 3) and x_train.dtype == np.uint8
    assert x_val.shape == (50, 32, 32, 3)
    assert y_train.dtype == np.int64
    assert len(classes) == len(set(classes)) >= 10
    assert np.bincount(y_train, minlength=len(classes)).tolist() == [20] * len(classes)
    assert np.bincount(y_val, minlength=len(classes)).tolist() == [5] * len(classes)
    assert len({x.tobytes() for x in x_train}) == len(x_train)  # no duplicate images
    assert not np.array_equal(make_embedded(20, 5, seed=1)[0], x_train)


def test_make_embedded_val_does_not_depend_on_train_size():
    assert np.array_equal(make_embedded(3, 4)[2], make_embedded(7, 4)[2])


def test_make_embedded_other_size():
    x_train, _, x_val, _, _ = make_embedded(2, 1, size=64)
    assert x_train.shape[1:] == (64, 64, 3) and x_val.shape[1:] == (64, 64, 3)


@pytest.fixture(scope="module")
def embedded() -> DataSplits:
    return load_data("embedded")


def test_load_embedded(embedded):
    d = embedded
    assert (d.name, d.num_classes, d.image_size, d.in_memory) == ("embedded", 10, 32, True)
    assert len(d.train) == 5000 and len(d.val) == 1000
    assert d.train.x.shape == (5000, 32, 32, 3) and d.train.y.dtype == np.int64
    assert d.classes == d.train.classes and "hstriped-circle" in d.classes
    assert d.fingerprint == EMBEDDED_FINGERPRINT
    image, label = d.val[0]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (32, 32)
    assert isinstance(label, int) and label == d.val.y[0]


def test_the_embedded_set_is_generated_once_and_handed_out_as_copies(monkeypatch):
    import roadmap.train.data.load as load
    first = load_data("embedded:3")
    monkeypatch.setattr(load, "make_embedded", lambda *a: pytest.fail("generated again"))
    first.train.x[:] = 0  # a run that altered its arrays
    first.val.y[:] = 0
    again = load_data("embedded:3")
    assert again.fingerprint == first.fingerprint and again.train.x.any() and again.val.y.any()
    assert again.train.x is not first.train.x and again.classes is not first.classes


def test_embedded_takes_a_validation_size_and_keeps_the_old_names_and_fingerprints():
    small, default = load_data("embedded:20:5"), load_data("embedded:20")
    assert (len(small.train), len(small.val)) == (200, 50) and small.name == data_name("embedded:20:5") == "embedded:20:5"
    assert np.array_equal(small.train.x, default.train.x) and small.fingerprint != default.fingerprint
    spelled_out = load_data("embedded:20:100")  # the default size, written out: the same data and cache keys
    assert spelled_out.name == data_name("embedded:20:100") == "embedded:20"
    assert spelled_out.fingerprint == default.fingerprint


@pytest.mark.parametrize("source, message", [
    ("embedded:20:x", "use embedded:N"), ("embedded:1:2:3", "use embedded:N"), ("embedded:", "use embedded:N"),
    ("embedded:20:0", "at least 1 image per class"), ("embedded:20:5001", "at most 5,000"),
])
def test_a_bad_embedded_size_is_one_sentence(source, message):
    with pytest.raises(RoadmapError, match=message):
        data_name(source)
    with pytest.raises(RoadmapError, match=message):
        load_data(source)


def test_transform_applies(embedded):
    embedded.train.transform = lambda im: np.asarray(im).sum()
    try:
        value, label = embedded.train[3]
        assert value == embedded.train.x[3].sum() and label == embedded.train.y[3]
    finally:
        embedded.train.transform = None


# ---------------------------------------------------------------- ImageFolder


def _write_image(path: Path, colour, size=(16, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _tree(root: Path, layout=None) -> Path:
    """root/{split}/{class}/imgK.(png|jpg), one colour per class."""
    layout = layout or {"train": {"dog": 3, "cat": 2}, "val": {"dog": 1, "cat": 1}}
    for split, classes in layout.items():
        for c, (name, n) in enumerate(sorted(classes.items())):
            for k in range(n):
                _write_image(root / split / name / f"img{k}.{'png' if k % 2 else 'jpg'}",
                             (200 * c, 50, 100))
    return root


def test_folder_tree_loads(tmp_path):
    root = _tree(tmp_path / "pets")
    d = load_data(str(root))
    assert (d.name, d.num_classes, d.classes, d.in_memory) == ("pets", 2, ["cat", "dog"], False)
    assert d.image_size == 16  # all probed images are 16x16
    assert len(d.train) == 5 and len(d.val) == 2
    image, label = d.train[0]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and label == 0
    assert [label for _, label in d.train] == [0, 0, 1, 1, 1]
    d.val.transform = lambda im: im.size
    assert d.val[1] == ((16, 16), 1)
    assert _is_hex16(d.fingerprint) and load_data(root).fingerprint == d.fingerprint
    _write_image(root / "train" / "cat" / "extra.png", (1, 2, 3))
    assert load_data(root).fingerprint != d.fingerprint


def test_folder_tree_mixed_sizes_use_nominal_224(tmp_path):
    root = _tree(tmp_path / "t")
    _write_image(root / "train" / "cat" / "wide.png", (0, 0, 0), size=(20, 10))
    assert load_data(root).image_size == 224


def test_folder_tree_skips_hidden_files_and_folders(tmp_path):
    root = _tree(tmp_path / "t")
    (root / "train" / "cat" / "._img0.jpg").write_bytes(b"resource fork")
    (root / "train" / ".ipynb_checkpoints").mkdir()
    d = load_data(root)
    assert d.classes == ["cat", "dog"] and len(d.train) == 5


def test_missing_path(tmp_path):
    with pytest.raises(RoadmapError, match="no such file or directory") as e:
        load_data(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value)


def test_missing_val_folder(tmp_path):
    root = _tree(tmp_path / "t", {"train": {"a": 1}})
    with pytest.raises(RoadmapError, match="no val/ folder") as e:
        load_data(root)
    assert str(root) in str(e.value)


def test_split_without_class_folders(tmp_path):
    (tmp_path / "t" / "train").mkdir(parents=True)
    (tmp_path / "t" / "val").mkdir()
    with pytest.raises(RoadmapError, match="has no class folders") as e:
        load_data(tmp_path / "t")
    assert str(tmp_path / "t" / "train") in str(e.value)


def test_empty_class_folder(tmp_path):
    root = _tree(tmp_path / "t")
    (root / "val" / "cat" / "img0.jpg").unlink()
    with pytest.raises(RoadmapError, match="holds no images") as e:
        load_data(root)
    assert str(root / "val" / "cat") in str(e.value)


def test_class_mismatch_names_classes(tmp_path):
    root = _tree(tmp_path / "t", {"train": {"cat": 1, "dog": 1, "emu": 1},
                                  "val": {"cat": 1, "dog": 1, "fox": 1}})
    with pytest.raises(RoadmapError, match="different class folders") as e:
        load_data(root)
    assert "only in train: emu" in str(e.value) and "only in val: fox" in str(e.value)


def test_unreadable_image_is_fatal_on_access(tmp_path):
    root = _tree(tmp_path / "t")
    bad = root / "train" / "cat" / "x.jpg"
    bad.write_bytes(b"this is not a jpeg")
    d = load_data(root)  # listing does not read pixels
    index = [p for p, _ in d.train.samples].index(str(bad))
    with pytest.raises(RoadmapError, match="cannot read image") as e:
        d.train[index]
    assert str(bad) in str(e.value)


def test_unrecognised_folder_and_plain_file(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(RoadmapError, match="is not an ImageFolder tree"):
        load_data(tmp_path / "empty")
    (tmp_path / "f.npz").write_bytes(b"")
    with pytest.raises(RoadmapError, match="is a file"):
        load_data(tmp_path / "f.npz")


# ---------------------------------------------------------------- CIFAR pickles


def _random_images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def _pickle(path: Path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj))


def _rows(x):  # (N,32,32,3) -> CIFAR's channel-planar (N,3072)
    return x.transpose(0, 3, 1, 2).reshape(len(x), 3072)


def _fake_cifar10(folder: Path):
    xs = [_random_images(4, i) for i in range(6)]
    ys = [[(3 * i + k) % 10 for k in range(4)] for i in range(6)]
    for i in range(5):
        _pickle(folder / f"data_batch_{i + 1}", {b"data": _rows(xs[i]), b"labels": ys[i]})
    _pickle(folder / "test_batch", {b"data": _rows(xs[5]), b"labels": ys[5]})
    _pickle(folder / "batches.meta", {b"label_names": [f"c{i}".encode() for i in range(10)]})
    return np.concatenate(xs[:5]), np.concatenate(ys[:5]), xs[5], np.array(ys[5])


def test_cifar10_pickles(tmp_path):
    x_train, y_train, x_val, y_val = _fake_cifar10(tmp_path / "cifar-10-batches-py")
    for source in (tmp_path, tmp_path / "cifar-10-batches-py"):  # parent or the folder itself
        d = load_data(source)
        assert (d.name, d.num_classes, d.image_size, d.in_memory) == ("cifar10", 10, 32, True)
        assert d.classes == [f"c{i}" for i in range(10)]
        assert np.array_equal(d.train.x, x_train) and np.array_equal(d.train.y, y_train)
        assert np.array_equal(d.val.x, x_val) and np.array_equal(d.val.y, y_val)
        image, label = d.train[5]
        assert np.array_equal(np.asarray(image), x_train[5]) and label == y_train[5]
        assert _is_hex16(d.fingerprint)


def test_cifar10_missing_batch(tmp_path):
    _fake_cifar10(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(RoadmapError, match="data_batch_3"):
        load_data(tmp_path)


def test_cifar100_pickles(tmp_path):
    x_train, x_val = _random_images(6, 0), _random_images(2, 1)
    folder = tmp_path / "cifar-100-python"
    _pickle(folder / "train", {b"data": _rows(x_train), b"fine_labels": [0, 99, 5, 5, 7, 1],
                               b"coarse_labels": [0] * 6})
    _pickle(folder / "test", {b"data": _rows(x_val), b"fine_labels": [3, 4],
                              b"coarse_labels": [0] * 2})
    _pickle(folder / "meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                              b"coarse_label_names": [b"x"] * 20})
    d = load_data(folder)
    assert (d.name, d.num_classes, d.classes[99]) == ("cifar100", 100, "f99")
    assert np.array_equal(d.train.x, x_train) and d.train.y.tolist() == [0, 99, 5, 5, 7, 1]
    assert np.array_equal(d.val.x, x_val) and d.val.y.tolist() == [3, 4]


# ---------------------------------------------------------------- .npz folders


def _jpeg(colour, size=(8, 8), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _write_npz(path: Path, blobs: list[bytes], y, classes, drop=()):
    arrays = {"jpeg": np.frombuffer(b"".join(blobs), np.uint8),
              "offsets": np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64),
              "y": np.asarray(y, np.uint8), "classes": np.array(classes)}
    np.savez_compressed(path, **{k: v for k, v in arrays.items() if k not in drop})


def test_npz_folder(tmp_path):
    colours = [(255, 0, 0), (0, 0, 255), (0, 200, 0)]
    _write_npz(tmp_path / "train.npz", [_jpeg(c) for c in colours] + [_jpeg(128, mode="L")],
               [0, 1, 2, 1], ["red", "blue", "green"])
    _write_npz(tmp_path / "test.npz", [_jpeg(colours[2])], [2], ["red", "blue", "green"])
    d = load_data(tmp_path)
    assert (d.name, d.num_classes, d.image_size, d.in_memory) == (tmp_path.name, 3, 8, True)
    assert d.classes == ["red", "blue", "green"]
    assert d.train.x.shape == (4, 8, 8, 3) and d.train.y.tolist() == [0, 1, 2, 1]
    expected = np.array(colours + [(128, 128, 128)], np.int16)[:, None, None, :]
    assert np.abs(d.train.x.astype(np.int16) - expected).max() <= 8  # JPEG rounding
    assert len(d.val) == 1 and d.val[0][1] == 2
    assert _is_hex16(d.fingerprint) and load_data(tmp_path).fingerprint == d.fingerprint


def test_npz_errors(tmp_path):
    blobs = [_jpeg((1, 2, 3)), b"garbage"]
    _write_npz(tmp_path / "train.npz", blobs, [0, 0], ["a"])
    with pytest.raises(RoadmapError, match="neither val.npz nor test.npz"):
        load_data(tmp_path)
    _write_npz(tmp_path / "val.npz", blobs[:1], [0], ["a"])
    with pytest.raises(RoadmapError, match="cannot decode image 1 of") as e:
        load_data(tmp_path)
    assert str(tmp_path / "train.npz") in str(e.value)
    _write_npz(tmp_path / "train.npz", blobs[:1], [0], ["a"], drop=("offsets",))
    with pytest.raises(RoadmapError, match="lacks the key"):
        load_data(tmp_path)
    _write_npz(tmp_path / "train.npz", blobs[:1], [1], ["a"])
    with pytest.raises(RoadmapError, match="labels outside"):
        load_data(tmp_path)


def _counts(path: Path):
    with np.load(path) as d:
        return len(d["offsets"]) - 1, np.bincount(d["y"]).tolist()


@pytest.mark.skipif(not (SHARED_DATA / "cifar10" / "test.npz").is_file(),
                    reason="shared CIFAR-10 copy not present")
def test_real_cifar10_npz():
    # Decodes only the 10,000-image test split (about 1 s); train is counted, not decoded.
    from roadmap.train.data.npz import read_npz
    x, y, classes = read_npz(SHARED_DATA / "cifar10" / "test.npz")
    assert x.shape == (10000, 32, 32, 3) and classes[0] == "airplane" and len(classes) == 10
    assert np.bincount(y).tolist() == [1000] * 10
    assert _counts(SHARED_DATA / "cifar10" / "train.npz") == (50000, [5000] * 10)


@pytest.mark.skipif(not (SHARED_DATA / "tinyimagenet50" / "val.npz").is_file(),
                    reason="shared Tiny-ImageNet-50 copy not present")
def test_real_tinyimagenet50_npz():
    # Decodes only the 2,500-image val split (greyscale JPEGs included); train is counted, not decoded.
    from roadmap.train.data.npz import read_npz
    x, y, classes = read_npz(SHARED_DATA / "tinyimagenet50" / "val.npz")
    assert x.shape == (2500, 64, 64, 3) and classes[0] == "n02124075" and len(classes) == 50
    assert np.bincount(y).tolist() == [50] * 50
    assert _counts(SHARED_DATA / "tinyimagenet50" / "train.npz") == (25000, [500] * 50)


def test_a_broken_validation_image_is_found_before_training(tmp_path):
    root = _tree(tmp_path / "t")
    bad = root / "val" / "cat" / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(RoadmapError, match="cannot read image") as e:
        load_data(root)  # headers of val images are opened when the data loads, not after epoch 1
    assert str(bad) in str(e.value)


def test_path_n_takes_n_training_images_per_class_the_same_ones_each_time(tmp_path):
    x_train, _, _, _ = _fake_cifar10(tmp_path / "cifar-10-batches-py")
    full, one = load_data(tmp_path), load_data(f"{tmp_path}:1")
    assert one.name == "cifar10:1" and data_name(f"{tmp_path}:1") == "cifar10:1"
    assert np.bincount(one.train.y, minlength=10).tolist() == [1] * 10
    assert set(map(bytes, one.train.x)) <= set(map(bytes, x_train))  # images of the full set, not copies
    assert len(one.val) == len(full.val)  # scored on the same images as the full set
    again = load_data(f"{tmp_path}:1")
    assert np.array_equal(again.train.x, one.train.x) and again.fingerprint == one.fingerprint
    assert len({full.fingerprint, one.fingerprint}) == 2 and _is_hex16(one.fingerprint)
    with pytest.raises(RoadmapError, match="class 'c7' has only 1 training images, fewer than 2"):
        load_data(f"{tmp_path}:2")
    # an ImageFolder tree: its sample list, nothing else read
    root = _tree(tmp_path / "pets", {"train": {"dog": 3, "cat": 2}, "val": {"dog": 1, "cat": 1}})
    sub = load_data(f"{root}:2")
    assert [label for _, label in sub.train] == [0, 0, 1, 1] and len(sub.val) == 2
    assert sub.fingerprint != load_data(root).fingerprint


def test_a_colon_in_a_path_is_part_of_it_unless_a_number_follows(tmp_path):
    x_train, _, _, _ = _fake_cifar10(tmp_path / "cifar:v2" / "cifar-10-batches-py")
    assert len(load_data(tmp_path / "cifar:v2").train) == len(x_train)  # an existing folder, colon and all
    assert len(load_data(f"{tmp_path / 'cifar:v2'}:1").train) == 10
    with pytest.raises(RoadmapError, match="no such file or directory"):
        load_data(tmp_path / "imagenet:v2")
    for bad in ("embedded:²", "embedded:x"):
        with pytest.raises(RoadmapError, match="use embedded:N with N training images per class"):
            load_data(bad)
    with pytest.raises(RoadmapError, match="N must be at least 1"):
        load_data(f"{tmp_path / 'cifar:v2'}:0")
