"""Every other command a reader may run (benchmarks/, docs/, mlengine/'s helpers, course.py): `--help` answers,
and a flag it does not know (or a missing required one) is refused in one line, exit status 2, before any work starts. The step scripts
and `python -m trainer.*` have their own, deeper tests (test_scripts.py, test_mlengine_cli.py)."""
import glob
import os
import subprocess
import sys

import pytest

from conftest import ROOT

FOLDERS = ("benchmarks", "docs", "mlengine", os.path.join("mlengine", "results"))
COMMANDS = sorted(os.path.relpath(path, ROOT)
                  for folder in FOLDERS for path in glob.glob(os.path.join(ROOT, folder, "*.py"))
                  if '__name__ == "__main__"' in open(path).read()) + ["course.py"]


def run(path, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, path), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


DOCUMENTS = ["README.md", "INSTALL.txt", "mlengine/README.md"] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))


def test_every_command_the_documents_give_exists_and_is_tested_here():
    """A `python3 some/script.py` or `python -m package.module` in a document is a command a reader will type:
    it must exist (from the repository or from the document's own folder) and be one whose --help this file
    runs (or a step script or trainer module, tested in test_scripts.py and test_mlengine_cli.py)."""
    import re
    import course
    steps = set(course.steps().values())
    for doc in DOCUMENTS:
        text, here = open(os.path.join(ROOT, doc)).read(), os.path.dirname(doc)
        for path in re.findall(r"\bpython3? ([\w./-]+\.py)\b", text):
            if "..." in path:                      # a placeholder: python3 path/to/mnist_2.0_...py
                continue
            found = [os.path.normpath(os.path.join(base, path)) for base in ("", here)
                     if os.path.exists(os.path.join(ROOT, base, path))]
            assert found, f"{doc}: python3 {path}: no such file"
            assert set(found) & (set(COMMANDS) | steps), f"{doc}: python3 {path} is not tested here"
        for module in re.findall(r"\bpython3? -m ((?:trainer|serving|search)(?:\.\w+)+)", text):
            assert os.path.exists(os.path.join(ROOT, "mlengine", *module.split(".")) + ".py"), f"{doc}: {module}"


@pytest.mark.parametrize("path", COMMANDS)
def test_help_and_an_unknown_flag(path):
    r = run(path, "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage:"), (path, r.stdout[-500:], r.stderr[-500:])
    r = run(path, "--no-such-flag")
    assert r.returncode == 2, (path, r.returncode, r.stderr[-500:])
    last = r.stderr.strip().splitlines()[-1]
    assert "Traceback" not in r.stderr and f"{os.path.basename(path)}: error: " in last, (path, r.stderr)


@pytest.mark.slow
def test_flags_time_measures_every_entry_point_below_a_second():
    """The benchmark behind the README's "answered at once" runs, and covers every step and trainer module."""
    import course
    r = run("benchmarks/flags_time.py", "--runs", "1")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("machine: ")
    for script in course.steps().values():
        assert f"| {script} |" in r.stdout
    for module in ("trainer.task", "serving.serve", "serving.predict", "search.hptune"):
        assert f"| python -m {module} |" in r.stdout
    assert "slowest answer of all" in r.stdout
    r = run("benchmarks/flags_time.py", "--runs", "0")
    assert r.returncode == 2 and "--runs must be at least 1" in r.stderr
