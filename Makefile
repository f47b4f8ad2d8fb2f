# The README's two commands: `make train` (step 1.0) and `make test`. Each does all the set-up first.
PY ?= python3
PIP = $(PY) -m pip install -q --disable-pip-version-check

.PHONY: setup setup-test train test bench
setup:
	@# TensorFlow first: the CUDA build where an NVIDIA GPU is, else tensorflow-cpu (the same code, half
	@# the download). Then the rest of requirements.txt.
	@$(PY) -c "import tensorflow" 2>/dev/null || { \
	  if command -v nvidia-smi >/dev/null 2>&1; then $(PIP) "tensorflow[and-cuda]>=2.16"; \
	  else $(PIP) "tensorflow-cpu>=2.16"; fi; }
	@grep -v '^tensorflow' requirements.txt | $(PIP) -r /dev/stdin

setup-test: setup
	@$(PIP) -r requirements-test.txt

train: setup
	$(PY) mnist_1.0_softmax.py

test: setup-test
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/ladder.py
