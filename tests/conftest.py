"""Shared fixtures. Tests import the package from this checkout's src/ (also in a git worktree), and CLI
tests run `python -m mnistlab` in a subprocess with the same path."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))
os.environ["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])
# `mnistlab train` defaults to --display auto: no test may open a window on a developer's screen by accident
# (the dashboard's window tests start their own Xvfb and pass its DISPLAY explicitly).
for _name in ("DISPLAY", "WAYLAND_DISPLAY"):
    os.environ.pop(_name, None)
SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "mnist"


def run_cli(*args, timeout=300, check=False, **kw) -> subprocess.CompletedProcess:
    """`mnistlab ARGS` as a user runs it; returns the finished process (text stdout/stderr)."""
    p = subprocess.run([sys.executable, "-m", "mnistlab", *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"mnistlab {' '.join(map(str, args))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


@pytest.fixture(scope="session")
def mnist():
    """The bundled MNIST on the CPU, loaded once per test session."""
    from mnistlab.data import load
    return load("mnist")


@pytest.fixture(scope="session")
def tiny_mnist(mnist):
    """The first 2,000 training and 1,000 test images: for smoke runs that only need to go through the loop."""
    from mnistlab.data import Dataset
    return Dataset("mnist", mnist.train_x[:2000], mnist.train_y[:2000], mnist.test_x[:1000], mnist.test_y[:1000],
                   mnist.classes, "subset")
