# The README's two commands, `make train` (step 1.0) and `make test`, and `make quick` (the tests without
# the slow tier). Each first makes the project's own environment, .venv/ (python3 -m venv), and installs
# into it what pyproject.toml lists, once: the system's Python is never installed into, so a Python that
# PEP 668 protects (Debian 12, Ubuntu 24.04, Homebrew) works as it is. Run any script in it yourself with
# `.venv/bin/python mnist_3.0_convolutional.py`, or `. .venv/bin/activate` first.
# Plain venv and pip, not uv: pip in the venv follows the machine's pip configuration (index, mirror,
# certificates) as the learner's own pip would.

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q --disable-pip-version-check

.DEFAULT_GOAL := help
.PHONY: help train test quick bench requirements FORCE

help:
	@echo "make train     installs what is needed into .venv/, then trains step 1.0 (a window if there is a screen)"
	@echo "make test      installs the test tools too, then runs the tests (make quick: without the slow ones)"
	@echo "make bench     the ladder of steps (benchmarks/ladder.py)"
	@echo "make requirements   writes requirements*.txt from pyproject.toml"

train: $(VENV)/.train
	$(PY) mnist_1.0_softmax.py

test: $(VENV)/.test
	$(PY) -m pytest -q

quick: $(VENV)/.test
	$(PY) -m pytest -q -m "not slow"

bench: $(VENV)/.train
	$(PY) benchmarks/ladder.py


# -- the interpreter -------------------------------------------------------------------------------------
# FITS exits 0 if the Python running it is in pyproject.toml's requires-python (its ">=3.10,<3.14" form:
# comparisons of major.minor). PYTHON is python3, or where python3 does not fit (Homebrew's 3.14, say) the
# first python3.13 ... python3.10 on PATH that does; `make PYTHON=python3.12 train` chooses.
REQUIRES_PYTHON := $(shell sed -n 's/^requires-python *= *"\(.*\)"/\1/p' pyproject.toml)
FITS = import operator as o, re, sys; op = {">=": o.ge, ">": o.gt, "<=": o.le, "<": o.lt}; \
  sys.exit(not all(op[c](sys.version_info[:2], tuple(map(int, v.split(".")))) \
                   for c, v in re.findall(r"([<>]=?) *([0-9.]+)", "$(REQUIRES_PYTHON)")))
ifeq ($(origin PYTHON),undefined)
  PYTHON := $(shell for p in python3 python3.13 python3.12 python3.11 python3.10; do \
                      $$p -c '$(FITS)' 2>/dev/null && { echo $$p; exit; }; done; echo python3)
endif

# Which Python made .venv/ (its base prefix and major.minor) against the one that would make it now. A
# .venv/ made by another one (another pyenv version, a Python since removed, a copied folder) is made
# again, with one line that says so; a patch release at the same place (3.11.2 -> 3.11.9) keeps it.
WHO = import sys; print("%d.%d at" % sys.version_info[:2], sys.base_prefix)
ifneq ($(wildcard $(VENV)/pyvenv.cfg),)
  VENV_FROM := $(shell $(PY) -c '$(WHO)' 2>/dev/null)
  WANTED := $(shell $(PYTHON) -c '$(WHO)' 2>/dev/null)
  ifneq ($(WANTED),$(VENV_FROM))
    ifneq ($(WANTED),)
      REMAKE_VENV := FORCE
    endif
  endif
endif
NEW_VENV := $(or $(REMAKE_VENV),$(if $(wildcard $(VENV)/.made),,yes))

# .venv/.made: the environment exists (pip in it), made by the right Python. A .venv/ made by hand with
# that Python (INSTALL.txt's steps) is kept as it is.
$(VENV)/.made: $(REMAKE_VENV)
	@command -v $(PYTHON) >/dev/null || { \
	  echo "make: no $(PYTHON) on PATH: install Python $(REQUIRES_PYTHON) (INSTALL.txt), then make again" >&2; exit 1; }
	@$(PYTHON) -c '$(FITS)' || { echo "make: $(PYTHON) is $$($(PYTHON) -V 2>&1), and TensorFlow has wheels for" \
	  "Python $(REQUIRES_PYTHON) only (pyproject.toml): install one of those (INSTALL.txt), then make again," \
	  "or name it: make PYTHON=python3.12 $(or $(MAKECMDGOALS),train)" >&2; exit 1; }
	@if [ -n "$(REMAKE_VENV)" ]; then \
	  echo "make: $(VENV)/ was made by Python $(or $(VENV_FROM),that no longer runs), not by $(PYTHON)" \
	       "(Python $(WANTED)): making it again"; \
	elif [ -x $(PY) ] && $(PY) -m pip --version >/dev/null 2>&1; then \
	  echo "make: using $(VENV)/ (made by hand with $(PYTHON)) and installing pyproject.toml's dependencies into it"; \
	  touch $@; exit 0; \
	else \
	  echo "make: first run: making the project's environment $(VENV)/ ($(PYTHON) -m venv, $$($(PYTHON) -V 2>&1))" \
	       "and installing pyproject.toml's dependencies into it (TensorFlow as $(TF_BUILD)); later runs reuse it"; \
	fi; \
	rm -rf $(VENV); \
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "make: $(PYTHON) -m venv failed (Debian, Ubuntu: sudo apt install python3-venv), then make again" >&2; \
	  exit 1; }; \
	touch $@


# -- what is installed -----------------------------------------------------------------------------------
# TensorFlow: pyproject.toml names the standard `tensorflow`; pip counts tensorflow-cpu and tensorflow as
# two distributions, and installing both would bring two TensorFlows. So the requirement list handed to pip
# has that line renamed to the build that fits this machine, with pyproject's version floor:
# tensorflow[and-cuda] where nvidia-smi is (CUDA and cuDNN as pip packages), tensorflow-cpu on other
# Linux x86-64 machines (the same code, 274 MB instead of the CUDA-capable build), plain tensorflow
# elsewhere (macOS, ARM: builds without CUDA already). A TensorFlow already in .venv/ is kept.
TF_BUILD := $(shell if command -v nvidia-smi >/dev/null 2>&1; then echo "tensorflow[and-cuda]"; \
                    elif [ "$$(uname -sm)" = "Linux x86_64" ]; then echo tensorflow-cpu; \
                    else echo tensorflow; fi)

# DEPS_PY prints pyproject.toml's requirements, one a line: `run` the course's [project] dependencies, a
# group's name that [dependency-groups] list (include-group followed); --tensorflow=BUILD renames the
# tensorflow line (see TF_BUILD). Run by .venv's Python: Python 3.10 has no tomllib, its pip carries tomli.
define DEPS_PY
import importlib.metadata, re, sys
try:
    import tomllib
except ImportError:
    from pip._vendor import tomli as tomllib
with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)

def listed(name):
    if name == "run":
        return project["project"]["dependencies"]
    out = []
    for item in project["dependency-groups"][name]:
        out += listed(item["include-group"]) if isinstance(item, dict) else [item]
    return out

def installed(dist):
    try:
        return importlib.metadata.distribution(dist) is not None
    except importlib.metadata.PackageNotFoundError:
        return False

names = [a for a in sys.argv[1:] if not a.startswith("--")]
build = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--tensorflow=")]
if build:
    build = next((d for d in ("tensorflow", "tensorflow-cpu") if installed(d)), build[0])
seen = []
for req in (r for n in names for r in listed(n)):
    if build and re.match(r"tensorflow(?![\w.-])", req):
        req = build + re.sub(r"^tensorflow(\[[^]]*\])?", "", req)
    if req not in seen:
        seen.append(req)
        print(req)
endef

# Each stamp is touched once its pip install succeeded; pyproject.toml newer than a stamp, or a new .venv/,
# installs again (pip then only adds what is missing). .test installs the course's dependencies and the
# test tools in one pip call, so that one resolution keeps them (and the TensorFlow build) consistent.
$(VENV)/.train $(VENV)/.test requirements: export DEPS_PY := $(value DEPS_PY)

$(VENV)/.train: $(VENV)/.made pyproject.toml
	@$(if $(NEW_VENV),,$(if $(wildcard $@),echo "make: pyproject.toml changed: updating $(VENV)/", \
	  echo "make: installing pyproject.toml's dependencies into $(VENV)/"))
	@$(PY) -c "$$DEPS_PY" run --tensorflow=$(TF_BUILD) > $(VENV)/requirements-train.txt
	@$(PIP) -r $(VENV)/requirements-train.txt
	@touch $@

$(VENV)/.test: $(VENV)/.made pyproject.toml
	@$(if $(NEW_VENV),,$(if $(wildcard $@),echo "make: pyproject.toml changed: updating $(VENV)/", \
	  echo "make: adding the test tools to $(VENV)/ (pyproject.toml's group test)"))
	@$(PY) -c "$$DEPS_PY" run test --tensorflow=$(TF_BUILD) > $(VENV)/requirements-test.txt
	@$(PIP) -r $(VENV)/requirements-test.txt
	@touch $@

# The files for pip without make (INSTALL.txt), written from pyproject.toml; never edited by hand.
GENERATED = \# Generated from pyproject.toml by `make requirements`: edit pyproject.toml, not this file.
requirements: $(VENV)/.made
	@{ echo '$(GENERATED)'; \
	   echo "# The course's scripts. Without an NVIDIA GPU on Linux x86-64, make takes tensorflow-cpu instead."; \
	   $(PY) -c "$$DEPS_PY" run; } > requirements.txt.part && mv requirements.txt.part requirements.txt
	@{ echo '$(GENERATED)'; echo "# What the tests need beyond requirements.txt; from Debian besides:" \
	        "xvfb xauth xdotool chromium python3-tk postgresql dataset-fashion-mnist."; \
	   $(PY) -c "$$DEPS_PY" test; } > requirements-test.txt.part && mv requirements-test.txt.part requirements-test.txt
	@{ echo '$(GENERATED)'; echo "# The cloud part's extras, beyond TensorFlow and numpy: pip install -r mlengine/requirements.txt"; \
	   $(PY) -c "$$DEPS_PY" mlengine; } > mlengine/requirements.txt.part && mv mlengine/requirements.txt.part mlengine/requirements.txt
	@echo "make: wrote requirements.txt, requirements-test.txt and mlengine/requirements.txt from pyproject.toml"

FORCE:
