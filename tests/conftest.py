"""Shared test helpers: the steps, and running a step script as a learner would (pyproject.toml puts the
repository, mlengine/ and benchmarks/ on sys.path for the tests)."""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import course

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPTS = list(course.steps().values())       # every step, found once (course.steps), in course order

# mnistdata's cache of decompressed files: the session's own, in every test and every process they start (not the
# user's ~/.cache, and no test depends on what an earlier session left there)
if "MNISTDATA_CACHE_DIR" not in os.environ:
    os.environ["MNISTDATA_CACHE_DIR"] = tempfile.mkdtemp(prefix="mnistdata-cache-")
    atexit.register(shutil.rmtree, os.environ["MNISTDATA_CACHE_DIR"], True)


def run_script(script, *args, cwd=None, env=None, timeout=600):
    """Run `python3 script args` in a fresh process, headless unless env gives a DISPLAY."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def mnist():
    import mnistdata
    return mnistdata.read_data_sets(None, one_hot=True, reshape=False)
