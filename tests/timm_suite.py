"""timm's own model tests (tests/test_models.py of the installed timm version) against every roadmap model.

    python tests/timm_suite.py [PYTEST ARGS]      (make timm-suite)

The test file comes from the installed version's source distribution on the package index (PyPI
publishes timm's tests with it), kept in .timm-suite/. Two lines change, both to classify our
models as timm classifies its own, and nothing else:
- our registry module (`timm_models`) joins the modules that have forward_intermediates and the
  feature-getter wrapper, so the intermediates and pruning tests cover our models;
- steps whose forward_features is a token sequence with a class token (the DeiT end of the
  isotropic roadmap) join the non-standard models, as timm's DeiT and ViT are.
Tests that need pretrained weights are left out (nothing is downloaded at test time), as are timm's
own models (`-k roadmap_`). It takes tens of minutes on 2 cores, so it is not part of `make test`;
tests/test_timm_models.py checks the same contract on a few steps of each family, fast.
"""
from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import timm

HERE = Path(__file__).resolve().parent.parent / ".timm-suite"
EDITS = [  # (anchor in timm's file, replacement)
    ("'csatv2', 'cpubone',", "'csatv2', 'cpubone', 'timm_models',"),
    ("NUM_NON_STD = len(NON_STD_FILTERS)",
     "NON_STD_FILTERS += [n for n in timm.list_models('roadmap_*') if get_pretrained_cfg_value(n, 'pool_size') is None]\n"
     "NUM_NON_STD = len(NON_STD_FILTERS)"),
]


def fetch(version: str) -> Path:
    """timm's tests/ of `version`, edited as above, in .timm-suite/timm-VERSION/."""
    folder = HERE / f"timm-{version}"
    if not (folder / "test_models.py").is_file():
        HERE.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        f"timm=={version}", "-d", str(HERE)], check=True)
        with tarfile.open(HERE / f"timm-{version}.tar.gz") as tar:
            for name in ("test_models.py", "conftest.py"):
                member = tar.getmember(f"timm-{version}/tests/{name}")
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(tar.extractfile(member).read())
        text = (folder / "test_models.py").read_text()
        for anchor, new in EDITS:
            if anchor not in text:
                raise SystemExit(f"timm {version}'s test_models.py has no {anchor!r}: update EDITS in {__file__}")
            text = text.replace(anchor, new, 1)
        (folder / "test_models.py").write_text(text)
        # our models are registered before timm's file lists the models it parametrizes over
        conftest = (folder / "conftest.py").read_text()
        (folder / "conftest.py").write_text("import roadmap  # noqa: F401  registers the roadmap models\n" + conftest)
    return folder


def main(args: list[str]) -> int:
    folder = fetch(timm.__version__)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore", "-rfE",
           "--rootdir", str(folder), str(folder / "test_models.py"), "-k", "roadmap_ and not pretrained", *args]
    return subprocess.run(cmd, cwd=folder).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
