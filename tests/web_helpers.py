"""Helpers for the web and export tests: one small trained run per test session, and the real server
(`mnistlab serve`, `mnistlab train --display web`) started as a subprocess on a free port."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def trained_run(tmp_path_factory) -> Path:
    """Conv 3.0 for 300 steps (~6 s on one core, ~97% test accuracy): enough to read drawn 1s and 7s.
    Cached under the session's base temp dir, so every test file that asks shares one training."""
    run_dir = tmp_path_factory.getbasetemp() / "web-conv-run"
    if not (run_dir / "summary.json").exists():
        from mnistlab.session import train
        train("3.0", iterations=300, eval_every=300, checkpoint_every=300, run_dir=run_dir, display="none")
    return run_dir


class Server:
    """`python -m mnistlab ARGS --port 0` in a subprocess; `.url` once it prints the address it listens on."""

    def __init__(self, *args, timeout: float = 60):
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "mnistlab", *map(str, args), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env)
        self.output: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if m := re.search(r"(http://127\.0\.0\.1:\d+/)", line):
                self.url = m.group(1)
                # keep reading what it prints, or a full pipe would block the server
                self._reader = threading.Thread(target=lambda: self.output.extend(self.proc.stdout), daemon=True)
                self._reader.start()
                return
        self.stop()
        raise AssertionError("server did not start:\n" + "".join(self.output))

    def printed(self) -> str:
        """Everything it printed (all of it once it has exited)."""
        if self.proc.poll() is not None:
            self._reader.join(5)
        return "".join(self.output)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
