"""The first command on any machine: pyproject.toml states the dependencies once (the requirements files are
generated from it), and `make train` / `make test` make and use the project's own .venv/, from a Python that
TensorFlow has wheels for. Cheap checks: `make -n` and make's own refusals, nothing installed."""
import importlib.metadata
import os
import shutil
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ImportError:                     # Python 3.10
    from pip._vendor import tomli as tomllib

from conftest import ROOT

with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
    PYPROJECT = tomllib.load(f)
needs_make = pytest.mark.skipif(not shutil.which("make"), reason="no make on PATH")


def group(name):
    """A dependency group's requirements, include-group followed (PEP 735)."""
    out = []
    for item in PYPROJECT["dependency-groups"][name]:
        out += group(item["include-group"]) if isinstance(item, dict) else [item]
    return out


def floor(requirements, name):
    """The lowest version that a list of requirement strings admits for `name` (its >= clause)."""
    spec = next(Requirement(r).specifier for r in requirements if Requirement(r).name == name)
    return next(Version(s.version) for s in spec if s.operator == ">=")


@pytest.mark.parametrize("path, lines", [
    ("requirements.txt", lambda: PYPROJECT["project"]["dependencies"]),
    ("requirements-test.txt", lambda: group("test")),
    ("mlengine/requirements.txt", lambda: group("mlengine")),
])
def test_the_requirements_files_are_generated_from_pyproject(path, lines):
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    assert text.startswith("# Generated from pyproject.toml by `make requirements`"), path
    listed = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert listed == list(dict.fromkeys(lines())), f"{path} differs from pyproject.toml: run make requirements"


def test_pyproject_floors_are_tensorflows_own():
    """numpy's floor is the one the installed TensorFlow's wheel requires, requires-python starts where its
    wheels start, and the suite runs on a TensorFlow that pyproject.toml admits."""
    tf = next(d for d in ("tensorflow", "tensorflow-cpu") if _installed(d))
    meta = importlib.metadata.metadata(tf)
    run = PYPROJECT["project"]["dependencies"]
    assert floor(run, "numpy") == floor(importlib.metadata.requires(tf), "numpy"), \
        f"pyproject.toml's numpy floor is not {tf} {meta['Version']}'s"
    assert PYPROJECT["project"]["requires-python"].startswith(meta["Requires-Python"])
    assert Version(meta["Version"]) >= floor(run, "tensorflow")


def _installed(dist):
    try:
        return importlib.metadata.distribution(dist) is not None
    except importlib.metadata.PackageNotFoundError:
        return False


# -- the Makefile ----------------------------------------------------------------------------------------

@pytest.fixture
def checkout(tmp_path):
    """The Makefile and pyproject.toml alone in a folder with no .venv/."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(os.path.join(ROOT, name), tmp_path)
    return tmp_path


def make(folder, *args, path=None):
    env = dict(os.environ, PATH=path or os.environ["PATH"])
    for name in ("PYTHON", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):    # not the outer `make test`'s
        env.pop(name, None)
    return subprocess.run(["make", "-C", str(folder), "--no-print-directory", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def fake_python(folder, name, script):
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return path


@needs_make
def test_make_train_and_test_make_and_use_the_venv(checkout):
    train = make(checkout, "-n", "train", f"PYTHON={sys.executable}")
    assert train.returncode == 0, train.stderr
    lines = train.stdout.splitlines()
    assert f"{sys.executable} -m venv .venv || {{ rm -rf .venv; \\" in lines
    installs = [line for line in lines if "pip install" in line]
    assert installs and all(line.startswith(".venv/bin/python -m pip install") for line in installs), installs
    assert lines[-1] == ".venv/bin/python mnist_1.0_softmax.py"
    assert make(checkout, "-n", "test").stdout.splitlines()[-1] == ".venv/bin/python -m pytest -q"
    assert make(checkout, "-n", "quick").stdout.splitlines()[-1] == '.venv/bin/python -m pytest -q -m "not slow"'


@needs_make
def test_a_venv_made_by_another_python_is_made_again(checkout):
    venv = checkout / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /opt/other/bin\n")
    (venv / ".made").touch()
    fake_python(venv / "bin", "python", 'echo "3.9 at /opt/other"\n')
    out = make(checkout, "-n", "train", f"PYTHON={sys.executable}").stdout
    assert 'echo "make: .venv/ was made by Python 3.9 at /opt/other, not by' in out and "rm -rf .venv" in out
    # the same Python (base prefix and major.minor) keeps it: only the installs are left to do
    fake_python(venv / "bin", "python", 'echo "%d.%d at %s"\n' % (*sys.version_info[:2], sys.base_prefix))
    out = make(checkout, "-n", "train", f"PYTHON={sys.executable}").stdout
    assert "was made by" not in out and "rm -rf .venv" not in out and "-m venv" not in out
    assert ".venv/bin/python -m pip install" in out


@needs_make
def test_a_python_that_tensorflow_has_no_wheels_for_is_refused_in_one_line(checkout):
    py314 = fake_python(checkout, "python3.14", 'case "$1" in -V) echo "Python 3.14.0";; *) exit 1;; esac\n')
    out = make(checkout, "train", f"PYTHON={py314}")
    assert out.returncode != 0 and not (checkout / ".venv").exists()
    said = out.stderr.splitlines()
    assert said[0] == (f"make: {py314} is Python 3.14.0, and TensorFlow has wheels for Python >=3.10,<3.14 "
                       "only (pyproject.toml): install one of those (INSTALL.txt), then make again, or name it: "
                       "make PYTHON=python3.12 train"), said
    assert "Traceback" not in out.stderr


@needs_make
@pytest.mark.parametrize("version, fits", [((3, 9), False), ((3, 10), True), ((3, 13), True), ((3, 14), False)])
def test_the_python_check_is_pyprojects_requires_python(checkout, version, fits):
    """make's check (FITS), run on a Python that reports `version`: in requires-python or not."""
    fits_code = make(checkout, "--eval", "print-fits: ; @printf '%s' '$(FITS)'", "print-fits").stdout
    code = f"import sys; sys.version_info = {version + (0, 'final', 0)!r}\n{fits_code}"
    assert (subprocess.run([sys.executable, "-c", code]).returncode == 0) == fits


@needs_make
def test_where_python3_does_not_fit_make_takes_a_python3_1x_that_does(checkout, tmp_path_factory):
    bin_dir = tmp_path_factory.mktemp("bin")
    fake_python(bin_dir, "python3", "exit 1\n")                      # no Python that fits
    fake_python(bin_dir, "python3.13", f'exec "{sys.executable}" "$@"\n')
    out = make(checkout, "-n", "train", path=f"{bin_dir}:{os.environ['PATH']}")
    assert "python3.13 -m venv .venv || { rm -rf .venv; \\" in out.stdout.splitlines(), out.stdout


@needs_make
def test_make_without_a_goal_lists_the_commands(checkout):
    out = make(checkout)
    assert out.returncode == 0 and out.stdout.startswith("make train ")
