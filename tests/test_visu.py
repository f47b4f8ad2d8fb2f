"""tensorflowvisu and its panels on Agg: the digit images, the bands, the course's panel numbers and keys, the
limits that keep every curve readable, NaN runs, the outputs."""
import os
import threading

import numpy as np
import pytest

os.environ["MPLBACKEND"] = "Agg"
import tensorflowvisu
from visualiser import files, flags as parsing, loop as runloop, panels as drawing, window as gui


@pytest.fixture
def vis(monkeypatch):
    monkeypatch.setattr(tensorflowvisu, "_FLAGS", tensorflowvisu.flags(["--text"]))
    return tensorflowvisu.MnistDataVis(title="test")


def fetched(images, predicted, labels, n, lines):
    """Run tf_format_mnist_images in a throwaway graph: what a script's sess.run returns."""
    import tensorflow.compat.v1 as tf
    with tf.Graph().as_default(), tf.Session() as sess:
        X = tf.placeholder(tf.float32, [None, 28, 28, 1])
        Y = tf.placeholder(tf.float32, [None, 10])
        Y_ = tf.placeholder(tf.float32, [None, 10])
        im = tensorflowvisu.tf_format_mnist_images(X, Y, Y_, n, lines)
        raw = sess.run(im, {X: images, Y: np.eye(10)[predicted], Y_: np.eye(10)[labels]})
    assert raw["digits"].dtype == np.uint8 and raw["digits"].nbytes == n * 784       # compact, as fetched
    return raw


def formatted(*args):
    return drawing.digit_mosaic(fetched(*args))


def cell(image, k, cols):
    r, c = divmod(k, cols)
    return image[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28]


def test_format_puts_mistakes_first_on_red_with_both_labels(mnist):
    images = mnist.test.images[:12]
    labels = mnist.test.labels[:12].argmax(1)
    predicted = labels.copy()
    predicted[[3, 7]] = (labels[[3, 7]] + 1) % 10                 # two mistakes, at 3 and 7
    out = formatted(images, predicted, labels, 12, 3)
    assert out.shape == (84, 112, 3) and out.dtype == np.uint8
    red = np.round(np.array(drawing.RED) * 255)
    glyphs = drawing.label_glyphs()
    for k, source in enumerate([3, 7, 0, 1, 2, 4]):             # mistakes first, then in order
        c = cell(out, k, 4)
        ink = images[source, :, :, 0]
        blank = ink == 0
        background = c[blank].mean(0)
        if k < 2:
            assert np.allclose(background, red, atol=40), background
            correct, computed = glyphs[0, labels[source]] > 0, glyphs[1, predicted[source]] > 0
            assert (c[correct & blank] == 255).all() and (c[computed & blank] == 255).all()
        else:
            assert (c[blank] == 255).all()                          # white, no labels
        assert c[ink > 0.9].max() < 60                              # the strokes are dark


def test_labels_small_correct_on_the_left_computed_on_the_right_apart_from_the_neighbours():
    glyphs = drawing.label_glyphs()
    for d in range(10):
        rows, cols = np.nonzero(glyphs[0, d])
        rows1, cols1 = np.nonzero(glyphs[1, d])
        assert cols.max() < 14 <= cols1.min()                        # correct on the left, computed on the right
        assert (np.ptp(rows) + 1) * 2 == np.ptp(rows1) + 1              # half the computed label's size
    right_edge = max(np.nonzero(glyphs[1, d])[1].max() for d in range(10))
    left_edge = min(np.nonzero(glyphs[0, d])[1].min() for d in range(10))
    assert (27 - right_edge) + left_edge >= 4                        # 4 blank pixels between neighbours' labels


def test_format_fewer_digits_than_cells(mnist):
    out = formatted(mnist.test.images[:5], mnist.test.labels[:5].argmax(1), mnist.test.labels[:5].argmax(1), 8, 2)
    assert (cell(out, 7, 4) == np.round(np.array(drawing.EMPTY) * 255)).all()


@pytest.mark.parametrize("accuracy,per_cell", [(0.99, 1), (0.92, 1), (0.71, 5), (0.3, 10), (0.1, 10)])
def test_test_digits_sample_so_the_red_reads_as_the_accuracy(mnist, accuracy, per_cell):
    """A hard data set (Fashion-MNIST at 71%) or an untrained network has more mistakes than the 1,000 cells:
    every 2nd/5th/10th digit is shown, and the end of the red, read on the panel's scale, is the accuracy."""
    n = 2000
    labels = mnist.test.labels[:n].argmax(1)
    wrong = np.random.default_rng(0).permutation(n)[:round(n * (1 - accuracy))]
    predicted = labels.copy()
    predicted[wrong] = (labels[wrong] + 1) % 10
    raw = fetched(mnist.test.images[:n], predicted, labels, 200, 5)        # 200 cells, 40 per line
    assert raw["per_cell"] == per_cell and raw["tested"] == n
    red = (raw["labels"] != raw["computed"])[:raw["shown"]].sum()
    assert abs(1 - red * per_cell / n - accuracy) <= per_cell / n + 1e-9  # read back within one cell


def test_bands_are_numpy_percentiles(vis):
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=5000), rng.uniform(size=77)
    vis.append_data_histograms(20, w, b)
    q = [100 * k / 7 for k in range(8)]
    assert np.allclose(vis.bands[1][0], np.percentile(w, q)) and np.allclose(vis.bands[2][0], np.percentile(b, q))
    within = [np.mean((w >= lo) & (w <= hi)) for lo, hi in zip(vis.bands[1][0][:-1], vis.bands[1][0][1:])]
    assert np.allclose(within, 1 / 7, atol=0.002)                 # each band holds a seventh of the weights


def fill(vis, steps=5, first_test_loss=None):
    rng = np.random.default_rng(1)
    for i in range(0, steps * 10, 10):
        vis.append_training_curves_data(i, 0.5 + i / 200, 100 - i)
        vis.append_test_curves_data(i, 0.6 + i / 200, first_test_loss if i == 0 and first_test_loss else 90 - i)
        vis.append_data_histograms(i, rng.normal(size=100), rng.normal(size=10))
    vis.update_image1(np.zeros((280, 280, 3), np.uint8))
    vis.update_image2(np.full((700, 1120, 3), 200, np.uint8))


def test_panels_are_numbered_as_the_course_numbers_them(vis):
    fill(vis)
    p = drawing.agg_figure(vis)
    p.draw()
    p.fig.canvas.draw()
    assert all(ax.get_visible() for ax in p.ax.values())
    title = {n: p.ax[n].get_title() for n in p.ax}
    assert title[1].startswith("accuracy") and "max 80.00%" in title[1]
    assert title[2].startswith("cross-entropy loss") and title[3] == "training digits"
    assert title[4].startswith("weights") and title[5].startswith("biases") and title[6].startswith("test digits")
    x = {n: p.ax[n].get_position(original=True).x0 for n in p.ax}      # the slots, before imshow's aspect
    y = {n: p.ax[n].get_position(original=True).y0 for n in p.ax}
    assert x[1] < x[2] < x[3] and x[4] < x[5] < x[6] and y[1] == y[2] == y[3] > y[4] == y[5] == y[6]
    train, test = p.lines[1]
    assert list(test.get_xdata()) == [0, 10, 20, 30, 40] and test.get_marker() == "o"
    assert p.images[3].get_array().shape == (280, 280, 3) and p.images[6].get_array().shape == (700, 1120, 3)
    scale = p.scale.get_window_extent(p.fig.canvas.get_renderer())
    assert scale.x1 <= p.ax[6].get_window_extent().x0 + 1       # the test digits' scale is on their left
    assert vis.get_max_test_accuracy() == pytest.approx(0.8)


def test_a_huge_first_test_loss_does_not_flatten_the_loss_panel(vis):
    """A batch-norm step tested at iteration 0, before its moving averages fill, prints a test loss of 1e12."""
    fill(vis, steps=30, first_test_loss=1.8e12)
    p = drawing.agg_figure(vis)
    p.draw()
    bottom, top = p.ax[2].get_ylim()
    assert bottom == 0 and 50 < top < 200                            # the curves fill the panel
    assert "test loss 1.8e+12 at iteration 0" in p.off_scale.get_text()   # and the point above it is named


def test_loss_limits_on_short_and_long_runs():
    top, off = drawing.loss_limits(([0, 20, 40], [0.1, 0.8, 0.9], [230, 40, 30]), ([0, 20], [0.1, 0.8], [1e10, 45]), 40)
    assert 30 < top < 60 and off == (0, 1e10)
    top, off = drawing.loss_limits(([0], [0.1], [230]), ([0], [0.1], [240]), 0)   # the very first iteration
    assert top > 240 and off is None
    assert drawing.loss_limits(([], [], []), ([], [], []), 0) == (1.0, None)


def test_nan_and_inf_are_drawn_as_gaps(vis, tmp_path):
    """A diverging run (step 2.0's NaN lesson) must be shown, and the PNG and movie still written."""
    fill(vis)
    nan = float("nan")
    vis.append_training_curves_data(50, 0.1, nan)
    vis.append_test_curves_data(50, 0.098, nan)
    vis.append_data_histograms(60, np.full(100, nan), np.full(10, np.inf))
    p = drawing.agg_figure(vis)
    p.draw()
    p.fig.canvas.draw()
    files.save_png(vis, str(tmp_path / "nan.png"))
    movie = files.MovieWriter(vis, str(tmp_path / "nan.gif"))
    movie.frame()
    movie.close()
    assert sorted(os.listdir(tmp_path)) == ["nan.gif", "nan.png"]


@pytest.mark.parametrize("key,shown", [("1", {1}), ("2", {2}), ("3", {3}), ("4", {4}), ("5", {5}), ("6", {6}),
                                       ("7", {1, 2}), ("8", {4, 5}), ("9", {3, 6}),
                                       ("0", {1, 2, 3, 4, 5, 6}), ("escape", {1, 2, 3, 4, 5, 6})])
def test_layout_keys(vis, key, shown):
    fill(vis)
    window = gui.Window(vis, runloop.Loop(lambda *a: None, lambda i: (False, False), 10))
    window.on_key(_key(window, "3"))
    window.on_key(_key(window, key))
    assert {n for n, ax in window.panels.ax.items() if ax.get_visible()} == shown


def test_the_keys_offered_everywhere_are_the_windows():
    from visualiser import web
    assert [k for k, _ in drawing.KEYS][:10] == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"]
    assert dict(drawing.KEYS)["8"] == "8 panels 4+5" and dict(drawing.KEYS)["4"] == "4 weights"
    assert {k for k, *_ in web.BUTTONS} <= web.KEYS
    assert "1 accuracy, 2 loss, 3 training digits, 4 weights, 5 biases, 6 test digits" in parsing.KEYS_HELP


def _key(window, key):
    from matplotlib.backend_bases import KeyEvent
    return KeyEvent("key_press_event", window.fig.canvas, key)


def test_space_pauses_the_training(vis):
    calls = []
    loop = runloop.Loop(lambda i, t, u: calls.append(i), lambda i: (False, False), 6)
    window = gui.Window(vis, loop)
    window.on_key(_key(window, " "))
    assert not loop.running.is_set()
    worker = threading.Thread(target=loop.run)
    worker.start()
    worker.join(0.5)
    assert calls == [] and worker.is_alive()                        # paused: no training step ran
    window.on_key(_key(window, " "))
    worker.join(5)
    assert calls == [0, 1, 2, 3, 4, 5]


def test_ctrl_s_saves_a_png_and_says_where(vis, tmp_path, monkeypatch, capsys):
    fill(vis)
    monkeypatch.chdir(tmp_path)
    window = gui.Window(vis, runloop.Loop(lambda *a: None, lambda i: (False, False), 1))
    window.on_key(_key(window, "ctrl+s"))
    path = tmp_path / "test-40.png"
    assert path.exists() and str(path) in capsys.readouterr().out
    from PIL import Image
    assert Image.open(path).size == (1280, 720)


def test_default_matplotlib_keys_do_not_fire(vis):
    window = gui.Window(vis, runloop.Loop(lambda *a: None, lambda i: (False, False), 1))
    ax = window.panels.ax[2]
    window.fig.canvas.callbacks.process("key_press_event", _key(window, "l"))   # matplotlib: log scale
    window.fig.canvas.callbacks.process("key_press_event", _key(window, "g"))   # matplotlib: grid
    assert ax.get_yscale() == "linear"


def nonblank_png(path):
    from PIL import Image
    pixels = np.asarray(Image.open(path).convert("RGB"), float)
    return pixels.std() > 20


def test_save_png_is_atomic_and_nonblank(vis, tmp_path):
    fill(vis)
    path = str(tmp_path / "panels.png")
    files.save_png(vis, path)
    assert nonblank_png(path) and os.listdir(tmp_path) == ["panels.png"]


@pytest.mark.parametrize("name", ["train.mp4", "train.gif"])
def test_movie(vis, tmp_path, name):
    fill(vis)
    path = str(tmp_path / name)
    movie = files.MovieWriter(vis, path)
    for i in range(3):
        vis.append_test_curves_data(100 + i, 0.9, 10)               # frames differ, as in training
        movie.frame()
    assert not os.path.exists(path)                                  # nothing half-written under the name
    movie.close()
    assert os.listdir(tmp_path) == [name]
    if name.endswith(".gif"):
        from PIL import Image
        assert Image.open(path).n_frames == 3
    else:
        import imageio_ffmpeg
        reader = imageio_ffmpeg.read_frames(path)
        meta = next(reader)
        assert meta["size"] == (1280, 720) and sum(1 for _ in reader) == 3


def test_movie_keeps_every_test_up_to_its_bound_then_its_budget(vis, tmp_path):
    fill(vis)
    movie = files.MovieWriter(vis, str(tmp_path / "m.gif"))
    movie.kept, movie.budget = 3, 0.0                                # 3 frames always, then no time at all
    for i in range(6):
        vis.append_test_curves_data(100 + i, 0.9, 10)
        movie.frame()
    assert (movie.frames, movie.skipped) == (3, 3)
    movie.close()
    assert movie.frames == 4 and movie.drawn == vis.version          # and the final state, forced


def test_flags_refuse_bad_values(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for argv, message in ((["--iterations", "0"], "not a positive whole number"),
                          (["--seed", "-1"], "is not a seed: give a whole number from 0 to"),
                          (["--seed", "3000000000"], "is not a seed"),
                          (["--save-png", "x.jpg"], "must end in .png"),
                          (["--save-movie", str(tmp_path / "no" / "m.mp4")], "does not exist"),
                          (["--save-png", str(tmp_path / "file" / "m.png")], "(it is a file)"),
                          (["--logdir", str(tmp_path / "file")], "that is a file, not a folder"),
                          (["--data-dir", str(tmp_path / "file")], "is a file, not a folder"),
                          (["--data-dir", str(tmp_path / "nowhere")], "does not exist"),
                          (["--web", "99999"], "not a port number"),
                          (["--bogus"], "unrecognized arguments")):
        with pytest.raises(SystemExit) as e:
            tensorflowvisu.flags(argv)
        assert e.value.code == 2 and message in capsys.readouterr().err, argv


def test_animate_runs_n_iterations_the_last_one_tested(vis, monkeypatch, capsys):
    seen = []
    vis.animate(lambda i, test, train: seen.append((i, test, train)), iterations=101,
                train_data_update_freq=20, test_data_update_freq=50)
    assert len(seen) == 101 and seen[0] == (0, True, True) and seen[50] == (50, True, False)
    assert seen[100] == (100, True, True) and seen[40] == (40, False, True)
    assert "trained 101 iterations" in capsys.readouterr().out
    vis.flags = tensorflowvisu.flags(["--text", "--iterations", "7"])
    seen.clear()
    vis.animate(lambda i, test, train: seen.append((i, test, train)), iterations=10001, train_data_update_freq=20,
                test_data_update_freq=100)
    assert [s[0] for s in seen] == list(range(7)) and seen[-1] == (6, True, True)   # the last one is tested
    out = capsys.readouterr().out
    assert "trained 7 iterations in" in out and "stopped early" not in out
    vis.flags = tensorflowvisu.flags(["--text", "--iterations", "1"])
    vis.animate(lambda i, test, train: None, iterations=10001)
    assert "trained 1 iteration in" in capsys.readouterr().out


def test_iterations_is_the_flag_or_the_default(monkeypatch):
    monkeypatch.setattr(tensorflowvisu, "_FLAGS", tensorflowvisu.flags(["--iterations", "30"]))
    assert tensorflowvisu.iterations(390) == 30
    monkeypatch.setattr(tensorflowvisu, "_FLAGS", tensorflowvisu.flags([]))
    assert tensorflowvisu.iterations(390) == 390


def test_no_display_falls_back_to_text(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "no display" in gui.no_window_reason()


def test_agg_backend_is_named_as_the_reason(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    reason = gui.no_window_reason()
    assert "'agg' (set by $MPLBACKEND)" in reason and "display" not in reason


def test_drawing_while_the_training_thread_appends(vis):
    """The training thread appends one column after the other; a draw in between must not see a ragged
    series (matplotlib would refuse x and y of different lengths)."""
    fill(vis)
    vis.train[0].append(999)                    # an append half done: the iteration is in, its values not yet
    vis.bands[0].append(999)
    p = drawing.agg_figure(vis)
    p.draw()
    p.fig.canvas.draw()
    assert len(p.lines[1][0].get_xdata()) == len(p.lines[1][0].get_ydata()) == 5


def test_test_digits_scale_follows_the_latest_image(vis):
    """Early tests sample every 5th digit (scale 100-50%), later ones show every mistake (100-90%)."""
    def raw(per_cell):
        return {"digits": np.zeros((1000, 28, 28), np.uint8), "labels": np.zeros(1000, int),
                "computed": np.ones(1000, int), "shown": 1000, "lines": 25, "per_cell": per_cell, "tested": 10000}
    p = drawing.agg_figure(vis)
    readings = []
    for per_cell in (5, 1):
        vis.update_image2(raw(per_cell))
        p.draw()
        p.fig.canvas.draw()
        bottom = p.ax[6].get_ylim()[0]                     # the image's last pixel row, read on the scale
        readings.append(float(p.scale._functions[0](bottom)))
        assert ("every 5th" in p.ax[6].get_title()) == (per_cell == 5)
    assert readings == pytest.approx([0.5, 0.9], abs=0.002)
