"""Re-make docs/draw-page.png and docs/live-dashboard.png with Debian's chromium driven by Playwright.

    python docs/make_web_screenshots.py RUN_DIR      # RUN_DIR: a trained run for the draw page

Starts `mnistlab serve RUN_DIR` and a short `mnistlab train 3.0 --display web`, each on a free port.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def start(*args) -> tuple[subprocess.Popen, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "mnistlab", *args, "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=env)
    for line in proc.stdout:
        if m := re.search(r"(http://127\.0\.0\.1:\d+/)", line):
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain: a full pipe blocks it
            return proc, m.group(1)
    raise SystemExit(proc.stdout.read())


def main(run_dir: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        serve, url = start("serve", run_dir)
        try:
            page = browser.new_page(viewport={"width": 760, "height": 560})
            page.goto(url)
            box = page.locator("#pad").bounding_box()
            for stroke in ([(75, 95), (110, 55), (170, 50), (200, 90), (180, 130), (130, 150)],
                           [(130, 150), (195, 175), (200, 225), (150, 250), (85, 235)]):  # a 3, in two strokes
                page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
                page.mouse.down()
                for x, y in stroke[1:]:
                    page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
                page.mouse.up()
            page.wait_for_timeout(1500)
            page.screenshot(path=DOCS / "draw-page.png")
        finally:
            serve.terminate()
            serve.wait()
        with tempfile.TemporaryDirectory() as tmp:
            train, url = start("train", "3.0", "--iterations", "600", "--display", "web", "--run-dir", f"{tmp}/run")
            try:
                page = browser.new_page(viewport={"width": 1320, "height": 880})
                page.goto(url)
                page.wait_for_function("() => parseInt(document.getElementById('step').textContent.replace(/,/g, '')) >= 450")
                page.keyboard.press(" ")
                page.wait_for_function("() => document.getElementById('state').textContent === 'paused'")
                page.wait_for_function("() => document.getElementById('frame').dataset.version == "
                                       "document.getElementById('frame').dataset.latest")
                page.screenshot(path=DOCS / "live-dashboard.png")
            finally:
                train.send_signal(signal.SIGINT)
                train.wait()
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1])
