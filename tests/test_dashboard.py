"""The dashboard off-screen (Agg): panels drawn from a recorded event stream, keys, pause, exports,
TensorBoard and the notebook display. The real window and the CLI are in test_dashboard_cli.py."""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def recorded(tiny_mnist, tmp_path_factory):
    """A real short training (1.1, one hidden layer, on 2,000 images) recorded in a run dir: (run dir, events,
    model). 1.1 rather than 1.0: the softmax's zero-initialised weights on always-blank border pixels stay
    exactly 0, and tied values cannot split into 7 equal bands."""
    from mnistlab.loop import fit
    from mnistlab.recipes import get_recipe
    from mnistlab.runs import RunDir
    recipe = get_recipe("1.1").replace(iterations=60, train_every=5, eval_every=20, digits_every=20,
                                       bands_every=10, checkpoint_every=1000)
    run = RunDir.create(tmp_path_factory.mktemp("run") / "r", {"recipe": recipe.to_dict(), "dataset": "mnist"})
    result = fit(recipe, tiny_mnist, run=run, device="cpu")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return run, records, result.model


@pytest.fixture()
def drawn(recorded, tiny_mnist):
    from mnistlab.dashboard.render import Dashboard, new_figure
    from mnistlab.dashboard.state import DashboardState
    state = DashboardState.from_run(recorded[0].path, data=tiny_mnist)
    dash = Dashboard(new_figure())
    dash.draw(state.snapshot())
    return dash, state


def _cell_colors(rgb, n, cols, cell, pad):
    """Median colour of each of the first n cells of a digit grid: the background (ink covers < half)."""
    out = []
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = r * (cell + pad) + pad, c * (cell + pad) + pad
        out.append(np.median(rgb[y:y + cell, x:x + cell].reshape(-1, 3), axis=0))
    return np.array(out)


def _is_red(colors):
    return (colors[:, 0] > 200) & (colors[:, 1] < 150) & (colors[:, 2] < 150)


def _is_white(colors):
    return (colors > 240).all(1)


def test_training_digits_mistakes_are_red(drawn, recorded, tiny_mnist):
    dash, _ = drawn
    last = [r for r in recorded[1] if r["type"] == "digits"][-1]
    wrong = np.array(last["predictions"]) != tiny_mnist.train_y.numpy()[last["indices"]]
    assert 0 < wrong.sum() < len(wrong), "the recorded batch should hold both mistakes and right answers"
    rgb = np.asarray(dash.panels[1].image.get_array())
    colors = _cell_colors(rgb, len(wrong), 10, 56, 2)
    assert (_is_red(colors) == wrong).all()
    assert _is_white(colors[~wrong]).all()


def test_mistake_labels_are_stamped_left_and_right():
    from mnistlab.dashboard.panels import digit_grid, glyphs
    blank = np.zeros((2, 28, 28), np.float32)
    rgb = digit_grid(blank, np.array([True, False]), np.array([3, 5]), np.array([8, 5]), cols=2, rows=1, scale=2, pad=0)
    g = glyphs(17)
    left, right = rgb[2:2 + g.shape[1], 2:2 + g.shape[2]], rgb[2:2 + g.shape[1], 56 - g.shape[2] - 2:54]
    label = lambda a: a[..., 1] > 176  # noqa: E731  white label over the red (green 97): > half coverage
    assert (label(left) == (g[3] > 0.5)).mean() > 0.97 and (label(right) == (g[8] > 0.5)).mean() > 0.97
    assert (label(left) != label(right)).any()  # a 3 and an 8, not the same stamp
    assert (rgb[:, 56:] == 255).all()  # a right answer: white, no labels


def test_test_digits_put_every_mistake_first_and_the_scale_reads_accuracy(drawn, recorded):
    dash, state = drawn
    last = [r for r in recorded[1] if r["type"] == "test"][-1]
    k = len(last["mistakes"])
    panel = dash.panels[2]
    rgb = np.asarray(panel.image.get_array())
    n = min(1000, state.n_test)
    colors = _cell_colors(rgb, n, 40, 28, 0)
    assert 0 < k < n
    assert _is_red(colors[:k]).all() and not _is_red(colors[k:]).any()
    # where the red stops, the side scale reads the test accuracy
    y_red_end = k / 40 * 28
    assert panel.accuracy_at(y_red_end) == pytest.approx(last["accuracy"], abs=1e-6)  # float32 accuracy


def test_bands_are_ordered_hold_a_seventh_each_and_are_drawn(drawn, recorded):
    from mnistlab.metrics import percentile_bands
    from mnistlab.models import split_params
    dash, _ = drawn
    bands = [r for r in recorded[1] if r["type"] == "bands"]
    b = np.array([r["weights"] for r in bands])
    assert b.shape[1] == 8 and (np.diff(b, axis=1) >= 0).all()
    weights = split_params(recorded[2])[0]
    values = np.concatenate([w.detach().numpy().ravel() for w in weights])
    edges = np.array(percentile_bands(weights))
    counts = np.histogram(values, edges)[0] / len(values)
    assert np.allclose(counts, 1 / 7, atol=0.01)
    fills = dash.panels[5].fills
    assert len(fills) == 7
    for i, f in enumerate(fills):  # band i lies between boundaries i and i + 1 of every recorded step
        ys = f.get_paths()[0].vertices[:, 1]
        assert ys.min() == pytest.approx(b[:, i].min()) and ys.max() == pytest.approx(b[:, i + 1].max())


def test_curves_match_metrics_jsonl(drawn, recorded):
    dash, _ = drawn
    train = [r for r in recorded[1] if r["type"] == "train"]
    test = [r for r in recorded[1] if r["type"] == "test"]
    for panel, what in ((dash.panels[3], "loss"), (dash.panels[4], "accuracy")):
        assert list(panel.train_line.get_xdata()) == [r["step"] for r in train]
        assert list(panel.train_line.get_ydata()) == [r[what] for r in train]
        assert list(panel.test_line.get_xdata()) == [r["step"] for r in test]
        assert list(panel.test_line.get_ydata()) == [r[what] for r in test]
        assert panel.ax.get_xlim()[1] >= train[-1]["step"]  # x follows the training


def test_each_key_changes_the_layout(drawn):
    from matplotlib.backend_bases import KeyEvent
    from mnistlab.dashboard.live import KeyController
    from mnistlab.loop import Control
    dash, state = drawn
    control, saved = Control(), []
    keys = KeyController(dash, control, save=lambda: saved.append(1) or "x.png")
    keys.connect(dash.fig.canvas)
    expected = {"1": [1], "2": [2], "3": [3], "4": [4], "5": [5], "6": [6], "7": [1, 2], "8": [3, 4], "9": [5, 6],
                "0": [1, 2, 3, 4, 5, 6], "escape": [1, 2, 3, 4, 5, 6]}

    def press(key):
        dash.fig.canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", dash.fig.canvas, key))

    for key, panels in expected.items():
        press("5" if key in ("0", "escape") else "0")  # start from another layout
        press(key)
        assert [n for n, p in dash.panels.items() if p.ax.get_visible()] == panels, key
    press("?")
    assert dash.help.get_visible()
    press("f1")
    assert not dash.help.get_visible()
    press(" ")
    assert control.paused
    press(" ")
    assert not control.paused
    press("ctrl+s")
    assert saved == [1]
    ax = dash.panels[3].ax
    dash.draw(state)
    ax.set_xlim(5, 6)  # a user's box zoom: the panel stops autoscaling ...
    dash.draw(state)
    assert ax.get_xlim() == (5, 6)
    press("h")  # ... until H resets it
    dash.draw(state)
    assert ax.get_xlim()[1] > 6
    press("l")  # matplotlib's log-scale key is unbound on the dashboard
    assert ax.get_yscale() == "linear"


def test_space_really_pauses_the_training(tiny_mnist):
    from mnistlab.dashboard.live import KeyController, StateSink
    from mnistlab.dashboard.render import Dashboard, new_figure
    from mnistlab.dashboard.state import DashboardState
    from mnistlab.loop import Control, fit
    from mnistlab.recipes import get_recipe
    state, control = DashboardState(tiny_mnist), Control()
    keys = KeyController(Dashboard(new_figure()), control)
    recipe = get_recipe("1.0").replace(iterations=10 ** 6, train_every=1, eval_every=10 ** 6, digits_every=10 ** 6)
    worker = threading.Thread(target=fit, args=(recipe, tiny_mnist, [StateSink(state)]), kwargs={"control": control})
    worker.start()
    try:
        deadline = time.time() + 30
        while state.step < 5 and time.time() < deadline:
            time.sleep(0.02)
        keys.handle(" ")
        time.sleep(0.3)  # the step in flight finishes
        paused_at = state.step
        time.sleep(0.7)
        assert state.step == paused_at and control.paused
        keys.handle(" ")
        while state.step == paused_at and time.time() < deadline:
            time.sleep(0.02)
        assert state.step > paused_at
    finally:
        control.stop()
        worker.join()


def _replay(sinks, records):
    from mnistlab.events import from_record
    for r in records:
        e = from_record(r)
        for s in sinks:
            s.emit(e)
    for s in sinks:
        s.close()


def test_png_every_k_steps_and_video_frames(recorded, tiny_mnist, tmp_path):
    import imageio.v3 as iio
    from mnistlab.dashboard.export import make_sinks
    from mnistlab.recipes import Recipe
    recipe = Recipe.from_dict(recorded[1][0]["recipe"])
    sinks = make_sinks(recipe=recipe, data=tiny_mnist, options={
        "save_png": str(tmp_path / "png" / "d-{step}.png"), "save_every": 20,
        "save_video": str(tmp_path / "new" / "folder" / "v.mp4")})
    _replay(sinks, recorded[1])
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == ["d-20.png", "d-40.png", "d-60.png"]
    frames = list(iio.imiter(tmp_path / "new" / "folder" / "v.mp4", plugin="FFMPEG"))
    assert len(frames) == 3  # steps 20, 40 and the end (60)
    assert frames[0].shape == (720, 1280, 3)
    assert frames[-1].std() > 20  # not a blank frame


def test_broken_ffmpeg_falls_back_to_gif_before_training(recorded, tiny_mnist, tmp_path, monkeypatch, capsys):
    from PIL import Image
    from mnistlab.dashboard.export import make_sinks
    from mnistlab.recipes import Recipe
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", "/bin/false")
    sinks = make_sinks(recipe=Recipe.from_dict(recorded[1][0]["recipe"]), data=tiny_mnist,
                       options={"save_video": str(tmp_path / "v.mp4"), "save_every": 30})
    assert "GIF" in capsys.readouterr().err  # said when the sinks are made, i.e. before training
    _replay(sinks, recorded[1])
    gif = Image.open(tmp_path / "v.gif")
    assert gif.n_frames == 2 and gif.size == (640, 360)  # step 30 and the end (60)


def test_tensorboard_event_files_hold_the_expected_tags(recorded, tiny_mnist, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from mnistlab.tensorboard import make_sinks
    _replay(make_sinks(data=tiny_mnist, options={"tensorboard": str(tmp_path / "tb")}), recorded[1])
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0, "histograms": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    assert set(tags["scalars"]) >= {"train/loss", "train/accuracy", "train/lr", "test/loss", "test/accuracy"}
    assert set(tags["histograms"]) == {"weights", "biases"}
    assert set(tags["images"]) == {"digits/train", "digits/test"}
    assert [s.step for s in acc.Scalars("test/accuracy")] == [20, 40, 60]
    h = acc.Histograms("weights")[-1].histogram_value
    assert len(h.bucket) == 7 and len(set(h.bucket)) == 1  # 7 bands of equal counts
    assert acc.Images("digits/train")[-1].width == 10 * 29 + 1


def test_notebook_display_updates_the_cell(recorded, tiny_mnist):
    from mnistlab.dashboard.notebook import NotebookDisplay
    from mnistlab.dashboard.state import DashboardState
    from mnistlab.events import from_record
    from mnistlab.loop import Control
    shown = []
    display = NotebookDisplay(DashboardState(tiny_mnist), {"refresh_fps": 10}, show=shown.append)

    def train():  # the recorded stream, emitted over ~0.6 s as a training would
        for r in recorded[1]:
            for s in display.sinks:
                s.emit(from_record(r))
            time.sleep(0.6 / len(recorded[1]))
        return "done"
    assert display.run(train, Control()) == "done"
    assert len(shown) >= 2 and all(png[:8] == b"\x89PNG\r\n\x1a\n" for png in shown)


def test_render_png_layouts(drawn):
    from PIL import Image
    import io
    from mnistlab.dashboard.render import render_png
    _, state = drawn
    for layout in ("all", 1, "7", 9):
        img = Image.open(io.BytesIO(render_png(state, layout=layout)))
        assert img.size == (1280, 720)
    with pytest.raises(ValueError):
        render_png(state, layout="x")


def test_show_follows_a_running_run(recorded, tiny_mnist, tmp_path):
    import shutil
    from mnistlab.dashboard.commands import _follower
    from mnistlab.dashboard.state import DashboardState
    from mnistlab.runs import RunDir
    run = RunDir(shutil.copytree(recorded[0].path, tmp_path / "live"))
    lines = (run / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    (run / "metrics.jsonl").write_bytes(b"".join(lines[:half]))
    state = DashboardState.from_run(run.path, data=tiny_mnist)
    poll = _follower(run, state)
    assert poll() is None  # nothing new
    with open(run / "metrics.jsonl", "ab") as f:  # the run goes on; its last line is being written
        f.write(b"".join(lines[half:-1]) + lines[-1][:10])
    time.sleep(1.05)  # the follower re-reads at most once a second
    new = poll()
    assert new is not None and new.step > state.step and new.skipped == []  # a line in the writing is no error
