# Two commands on a fresh machine: `make roadmap` and `make test` (each installs what it needs).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install roadmap paper test timm-suite steps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,tensorboard]"
	touch $(STAMP)

install: $(STAMP)

# the main job: the whole convnext-t roadmap on the embedded dataset (smoke recipe, 2-core CPU),
# three seeds each, then its figure and table; a rerun trains only what is missing
OUT ?= results/smoke
SEEDS ?= 3
roadmap: $(STAMP)
	$(PY) -m roadmap run --roadmap convnext-t --recipe smoke --data embedded --seeds $(SEEDS) --out $(OUT)
	$(PY) -m roadmap plot --results $(OUT) -o plots/$(notdir $(OUT)).png
	$(PY) -m roadmap report $(OUT)

paper: $(STAMP)
	$(PY) -m roadmap plot --paper -o plots/paper.png

steps: $(STAMP)
	$(PY) -m roadmap steps --roadmap convnext-t
	$(PY) -m roadmap steps --roadmap convnext-b

test: $(STAMP)
	$(PY) -m pytest -q -n auto --dist loadfile --no-loadscope-reorder --durations=15

# timm's own tests/test_models.py (of the installed timm) against every roadmap model: slow, see the script
timm-suite: $(STAMP)
	$(PY) tests/timm_suite.py

clean:
	rm -rf $(VENV) build *.egg-info
