# The two commands of the README: `make train` and `make test`. Each does all the set-up first.
PY ?= python3
PIP = $(PY) -m pip install -q --disable-pip-version-check

.PHONY: setup train test bench
setup:
	@# torch first, and on a machine without an NVIDIA GPU the CPU build (this repo's machines have
	@# torch==2.13.0+cpu on disk); a GPU machine gets the normal CUDA build.
	@$(PY) -c "import torch" 2>/dev/null || { \
	  if command -v nvidia-smi >/dev/null 2>&1; then $(PIP) torch; else $(PIP) "torch==2.13.0"; fi; }
	$(PIP) -e ".[all,test]"

train: setup
	mnistlab train 3.1

test: setup
	$(PY) -m pytest -q
