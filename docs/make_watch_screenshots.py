"""Make the pictures of docs/watch.md with the code itself, in Debian's chromium driven by Playwright:

    python3 docs/make_watch_screenshots.py                 # all three, about 3 minutes on 2 cores
    python3 docs/make_watch_screenshots.py tensorboard     # or web, notebook: one of them

web:          step 3.1 with --web, the page at iteration 600 or a little later -> docs/web-page.png
tensorboard:  steps 2.1 and 2.2 with --logdir, 4,000 iterations each, then `tensorboard --logdir` on a loopback
              port and its scalars compared -> docs/tensorboard.png
notebook:     a notebook that runs step 3.1 (%run, 300 iterations), executed by nbclient, shown as nbconvert's
              HTML -> docs/notebook.png
Needs: playwright (pip), chromium (apt), tensorboard, nbclient, ipykernel, nbconvert.
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
ENV = dict({k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}, PYTHONUNBUFFERED="1")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def web(browser):
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "mnist_3.1_convolutional_bigger_dropout.py"), "--web",
                             "0", "--iterations", "2001"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=ENV, cwd=ROOT)
    try:
        for line in proc.stdout:
            m = re.search(r"live at (http://\S+/)", line)
            if m:
                break
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        page = browser.new_page(viewport={"width": 1300, "height": 820})
        page.goto(m.group(1))
        page.wait_for_function("() => +document.getElementById('frame').dataset.iteration >= 600", timeout=600000)
        page.screenshot(path=os.path.join(DOCS, "web-page.png"))
        print("docs/web-page.png")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)


def tensorboard(browser):
    with tempfile.TemporaryDirectory() as logdir:
        runs = [subprocess.Popen([sys.executable, os.path.join(ROOT, script), "--text", "--iterations", "4001",
                                  "--logdir", logdir], stdout=subprocess.DEVNULL, env=ENV, cwd=ROOT)
                for script in ("mnist_2.1_five_layers_relu_lrdecay.py",
                               "mnist_2.2_five_layers_relu_lrdecay_dropout.py")]
        assert all(r.wait() == 0 for r in runs)
        port = free_port()
        board = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1",
                                  "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            for _ in range(120):
                try:
                    page.goto(f"http://127.0.0.1:{port}/?darkMode=false#scalars&_smoothingWeight=0")
                    break
                except Exception:
                    time.sleep(0.5)
            page.wait_for_selector("text=loss/test", timeout=60000)
            page.wait_for_timeout(4000)              # the charts draw
            page.screenshot(path=os.path.join(DOCS, "tensorboard.png"))
            print("docs/tensorboard.png")
        finally:
            board.terminate()
            board.wait(30)


def notebook(browser):
    import nbclient
    import nbconvert
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%run mnist_3.1_convolutional_bigger_dropout.py --iterations 301")]
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": ROOT}}).execute()
    nb.cells[0].outputs = [o for o in nb.cells[0].outputs      # TensorFlow's C++ start-up lines: not ours
                           if not (o.output_type == "stream" and o.name == "stderr")]
    body, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    with tempfile.NamedTemporaryFile("w", suffix=".html", delete=False) as f:
        f.write(body)
    try:
        page = browser.new_page(viewport={"width": 1100, "height": 1000})
        page.goto("file://" + f.name)
        page.wait_for_timeout(1000)
        page.screenshot(path=os.path.join(DOCS, "notebook.png"))
        print("docs/notebook.png")
    finally:
        os.remove(f.name)


PICTURES = ("web", "tensorboard", "notebook")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("which", nargs="*", metavar="PICTURE",
                   help="which pictures to make (default: all): " + ", ".join(PICTURES))
    which = p.parse_args(argv).which or PICTURES      # checked here: argparse refuses "*" with choices and none
    for name in set(which) - set(PICTURES):
        p.error(f"no picture {name!r}: choose from {', '.join(PICTURES)}")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for name in which:
            globals()[name](browser)
        browser.close()


if __name__ == "__main__":
    main()
