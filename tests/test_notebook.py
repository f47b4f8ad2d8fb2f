"""The notebook display: a real notebook executed headless by nbclient (a Jupyter kernel, %run of a step script,
then a cell of your own), and the cell's buttons clicked in headless Chromium."""
import base64
import http.server
import io
import os
import threading
import time

import numpy as np
import pytest

from conftest import ROOT

os.environ.setdefault("MPLBACKEND", "Agg")
import tensorflowvisu
from visualiser import loop as runloop

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

OWN_CELL = """
import time, numpy as np, tensorflowvisu
vis = tensorflowvisu.MnistDataVis(title="my model")
def step(i, test, train):
    time.sleep(0.005)
    if train:
        vis.append_training_curves_data(i, i / 100, 100 - i)
        vis.append_data_histograms(i, np.random.default_rng(i).normal(size=50), np.zeros(5))
    if test:
        vis.append_test_curves_data(i, i / 100, 100 - i)
vis.animate(step, iterations=101, train_data_update_freq=10, test_data_update_freq=50)
"""


class CountingClient(nbclient.NotebookClient):
    """Counts the in-place image updates (nbclient folds them into the output they replace)."""
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.updates = {}

    def process_message(self, msg, cell, cell_index):
        if msg["msg_type"] == "update_display_data" and "image/png" in msg["content"]["data"]:
            self.updates[cell_index] = self.updates.get(cell_index, 0) + 1
        return super().process_message(msg, cell, cell_index)


def png_of(outputs):
    from PIL import Image
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1, [o.output_type for o in outputs]          # one image, replaced in place
    return Image.open(io.BytesIO(base64.b64decode(images[0]["data"]["image/png"]))).convert("RGB")


def text_of(outputs, name="stdout"):
    return "".join(o.text for o in outputs if o.output_type == "stream" and o.name == name)


@pytest.fixture(scope="module")
def notebook():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%run mnist_3.1_convolutional_bigger_dropout.py --iterations 101"),
                nbformat.v4.new_code_cell("import threading\nprint(datavis.mode, datavis.get_max_test_accuracy())\n"
                                          "print(sorted(t.name for t in threading.enumerate()))"),
                nbformat.v4.new_code_cell("%run mnist_1.0_softmax.py --iterations 41"),
                nbformat.v4.new_code_cell(OWN_CELL)]
    client = CountingClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": ROOT}})
    client.execute()
    return nb, client.updates


def test_run_in_a_cell_shows_the_panels_live_and_leaves_the_last_frame(notebook):
    nb, updates = notebook
    outputs = nb.cells[0].outputs
    out = text_of(outputs)
    assert "display: notebook" in out and "0: accuracy:" in out             # the text lines still print
    assert "WARNING:tensorflow" not in out                                  # TensorFlow's INFO logger, quietened
    assert "100: ********* epoch 1 ********* test accuracy:" in out and "max test accuracy:" in out
    image = png_of(outputs)
    assert image.size == (1280, 720) and np.asarray(image, float).std() > 20
    assert updates.get(0, 0) >= 2                                           # replaced while it trained
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(html) == 1 and "the run has ended" in html[0]                # the buttons gave way to a note
    assert not any(o.output_type == "error" for c in nb.cells for o in c.outputs)


def test_the_kernel_is_free_after_the_run(notebook):
    out = text_of(notebook[0].cells[1].outputs)
    mode, accuracy = out.splitlines()[0].split()
    assert mode == "notebook" and float(accuracy) > 0.5
    assert "training" not in out and "visualiser.web" not in out                   # no thread left behind


def test_a_second_run_in_the_same_kernel_takes_its_own_flags(notebook):
    out = text_of(notebook[0].cells[2].outputs)
    assert "trained 41 iterations" in out and "40: ********* epoch 1" in out
    png_of(notebook[0].cells[2].outputs)


def test_a_cell_of_your_own(notebook):
    outputs = notebook[0].cells[3].outputs
    assert "trained 101 iterations" in text_of(outputs)
    image = png_of(outputs)
    assert np.asarray(image, float).std() > 20


# -- the buttons, clicked in a browser page served from another origin, as Jupyter's would be -------------

@pytest.fixture
def browser_page():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("no chromium at /usr/bin/chromium")
    from test_web import CHROMIUM_ARGS
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = b.new_page()
        page.on("dialog", lambda d: d.accept())
        yield page
        b.close()


def serve_html(text):
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *a):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_buttons_pause_change_the_layout_and_stop(browser_page, monkeypatch):
    from visualiser import notebook
    from test_web import WEIGHTS_PANEL, ink
    monkeypatch.setattr(tensorflowvisu, "_FLAGS", tensorflowvisu.flags(["--text"]))
    vis = tensorflowvisu.MnistDataVis(title="buttons")
    steps = []

    def step(i, test, train):
        steps.append(i)
        time.sleep(0.01)
        vis.append_training_curves_data(i, 0.5, 50)
        vis.append_data_histograms(i, np.random.default_rng(i).normal(size=50), np.ones(5) * i)
    loop = runloop.Loop(step, lambda i: (False, True), 10 ** 6)
    shown = []

    class Handle:
        def __init__(self, obj):
            shown.append(obj)

        def update(self, obj):
            shown.append(obj)
    run = threading.Thread(target=notebook.run, args=(vis, loop), kwargs={"display": lambda o, **k: Handle(o)})
    run.start()
    try:
        while not any(type(o).__name__ == "Image" for o in shown):
            time.sleep(0.05)
        jupyter = serve_html(shown[0].data)                     # the buttons, on a page of another origin
        browser_page.goto(f"http://127.0.0.1:{jupyter.server_address[1]}/")

        def images():
            return [o.data for o in shown if type(o).__name__ == "Image"]
        before = len(images())
        browser_page.click("button[data-key='3']")
        deadline = time.time() + 20
        while time.time() < deadline and not (len(images()) > before and ink(images()[-1], WEIGHTS_PANEL) < 0.01):
            time.sleep(0.05)
        assert ink(images()[-1], WEIGHTS_PANEL) < 0.01          # panel 3 alone: the weights panel is gone
        browser_page.click("button[data-key=' ']")
        deadline = time.time() + 10
        while loop.running.is_set() and time.time() < deadline:
            time.sleep(0.05)
        assert not loop.running.is_set()
        time.sleep(0.3)
        n = len(steps)
        time.sleep(1)
        assert len(steps) == n                                  # paused
        browser_page.focus(".tfv")
        browser_page.keyboard.press("q")                        # the keys work too, once the buttons have focus
        run.join(20)
        assert not run.is_alive() and loop.stop.is_set()
        assert "the run has ended" in shown[-1].data
        jupyter.shutdown()
    finally:
        loop.stop.set()
        loop.running.set()
        run.join(20)
