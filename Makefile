# ParaScale developer tasks. Every target creates the environment it needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# Blender LTS releases the Blender-facing tests also run on (bpy from PyPI, Python 3.11).
COMPAT_BPY := 4.2.23 4.5.15

.PHONY: venv test test-kernels test-compat extension demo bench lint clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,blender]"
	touch $@

test: venv
	$(PY) -m pytest -q

# The numerical tests (not marked `blender`) again under other OpenBLAS kernels than this CPU's own:
# an assertion that holds only for one CPU's BLAS blocking or FMA use fails here, not on a user's machine.
OTHER_BLAS_KERNELS := Haswell Sandybridge

test-kernels: venv
	@set -e; for k in $(OTHER_BLAS_KERNELS); do \
		echo "== OPENBLAS_CORETYPE=$$k"; OPENBLAS_CORETYPE=$$k $(PY) -m pytest -q -m "not blender"; done

.venv-bpy%/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-bpy$*
	.venv-bpy$*/bin/python -m pip install -q --upgrade pip
	.venv-bpy$*/bin/python -m pip install -q "bpy==$*" -e ".[dev]"
	touch $@

# The Blender-facing tests (marker `blender`) on each supported LTS release.
test-compat: $(foreach v,$(COMPAT_BPY),.venv-bpy$(v)/.installed)
	@set -e; for v in $(COMPAT_BPY); do \
		echo "== Blender $$v"; .venv-bpy$$v/bin/python -m pytest -q -m blender; done

extension: venv
	$(PY) -m parascale.tools.extension_build out/extension

demo: venv
	$(PY) examples/demo.py

bench: venv
	$(PY) bench/run_all.py

lint: venv
	$(PY) -m ruff check .

clean:
	rm -rf out .pytest_cache .ruff_cache
