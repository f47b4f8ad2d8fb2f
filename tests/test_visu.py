"""tensorflowvisu and its panels on Agg: the digit images, the bands, the layouts, the keys, the outputs."""
import os

import numpy as np
import pytest

os.environ["MPLBACKEND"] = "Agg"
import tensorflowvisu  # noqa: E402
import visupanels  # noqa: E402


@pytest.fixture
def vis(monkeypatch):
    monkeypatch.setattr(tensorflowvisu, "_FLAGS", tensorflowvisu.flags(["--text"]))
    return tensorflowvisu.MnistDataVis(title="test")


def formatted(images, predicted, labels, n, lines):
    """Run tf_format_mnist_images in a throwaway graph."""
    import tensorflow.compat.v1 as tf
    with tf.Graph().as_default(), tf.Session() as sess:
        X = tf.placeholder(tf.float32, [None, 28, 28, 1])
        Y = tf.placeholder(tf.float32, [None, 10])
        Y_ = tf.placeholder(tf.float32, [None, 10])
        im = tensorflowvisu.tf_format_mnist_images(X, Y, Y_, n, lines)
        raw = sess.run(im, {X: images, Y: np.eye(10)[predicted], Y_: np.eye(10)[labels]})
    assert raw["digits"].dtype == np.uint8 and raw["digits"].nbytes == n * 784       # compact, as fetched
    return visupanels.digit_mosaic(raw)


def cell(image, k, cols):
    r, c = divmod(k, cols)
    return image[r * 28:(r + 1) * 28, c * 28:(c + 1) * 28]


def test_format_puts_mistakes_first_on_red_with_both_labels(mnist):
    images = mnist.test.images[:12]
    labels = mnist.test.labels[:12].argmax(1)
    predicted = labels.copy()
    predicted[[3, 7]] = (labels[[3, 7]] + 1) % 10                 # two mistakes, at 3 and 7
    out = formatted(images, predicted, labels, n=12, lines=3)
    assert out.shape == (84, 112, 3) and out.dtype == np.uint8
    red = np.round(np.array(visupanels.RED) * 255)
    for k, source in enumerate([3, 7, 0, 1, 2, 4]):             # mistakes first, then in order
        c = cell(out, k, 4)
        ink = images[source, :, :, 0]
        blank = ink == 0
        background = c[blank].mean(0)
        if k < 2:
            assert np.allclose(background, red, atol=40), background
            glyphs = visupanels.label_glyphs()
            correct, computed = glyphs[0, labels[source]] > 0, glyphs[1, predicted[source]] > 0
            assert (c[correct & blank] == 255).all() and (c[computed & blank] == 255).all()
        else:
            assert (c[blank] == 255).all()                          # white, no labels
        assert c[ink > 0.9].max() < 60                              # the strokes are dark


def test_format_fewer_digits_than_cells(mnist):
    out = formatted(mnist.test.images[:5], mnist.test.labels[:5].argmax(1), mnist.test.labels[:5].argmax(1), 8, 2)
    assert (cell(out, 7, 4) == np.round(np.array(visupanels.EMPTY) * 255)).all()


def test_bands_are_numpy_percentiles(vis):
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=5000), rng.uniform(size=77)
    vis.append_data_histograms(20, w, b)
    q = [100 * k / 7 for k in range(8)]
    assert np.allclose(vis.bands[1][0], np.percentile(w, q)) and np.allclose(vis.bands[2][0], np.percentile(b, q))
    within = [np.mean((w >= lo) & (w <= hi)) for lo, hi in zip(vis.bands[1][0][:-1], vis.bands[1][0][1:])]
    assert np.allclose(within, 1 / 7, atol=0.002)                 # each band holds a seventh of the weights


def fill(vis, steps=5):
    rng = np.random.default_rng(1)
    for i in range(0, steps * 10, 10):
        vis.append_training_curves_data(i, 0.5 + i / 200, 100 - i)
        vis.append_test_curves_data(i, 0.6 + i / 200, 90 - i)
        vis.append_data_histograms(i, rng.normal(size=100), rng.normal(size=10))
    vis.update_image1(np.zeros((280, 280, 3), np.uint8))
    vis.update_image2(np.full((700, 1120, 3), 200, np.uint8))


def test_panels_draw_the_data(vis):
    fill(vis)
    panels = visupanels.agg_figure(vis)
    panels.draw()
    panels.fig.canvas.draw()
    assert all(ax.get_visible() for ax in panels.ax.values())
    train, test = panels.lines[4]
    assert list(test.get_xdata()) == [0, 10, 20, 30, 40] and test.get_marker() == "o"
    assert "max 80.00%" in panels.ax[4].get_title()
    assert panels.images[2].get_array().shape == (700, 1120, 3)
    assert panels.scale is not None                                # the accuracy scale beside the test digits
    assert vis.get_max_test_accuracy() == pytest.approx(0.8)


@pytest.mark.parametrize("key,shown", [("1", {1}), ("6", {6}), ("7", {1, 2}), ("8", {4, 5}), ("9", {3, 6}),
                                       ("0", {1, 2, 3, 4, 5, 6}), ("escape", {1, 2, 3, 4, 5, 6})])
def test_layout_keys(vis, key, shown):
    fill(vis)
    window = visupanels.Window(vis, tensorflowvisu.Loop(lambda *a: None, lambda i: (False, False), 10))
    window.on_key(_key(window, "3"))
    window.on_key(_key(window, key))
    assert {n for n, ax in window.panels.ax.items() if ax.get_visible()} == shown


def _key(window, key):
    from matplotlib.backend_bases import KeyEvent
    return KeyEvent("key_press_event", window.fig.canvas, key)


def test_space_pauses_the_training(vis):
    calls = []
    loop = tensorflowvisu.Loop(lambda i, t, u: calls.append(i), lambda i: (False, False), 5)
    window = visupanels.Window(vis, loop)
    window.on_key(_key(window, " "))
    assert not loop.running.is_set()
    import threading
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
    window = visupanels.Window(vis, tensorflowvisu.Loop(lambda *a: None, lambda i: (False, False), 1))
    window.on_key(_key(window, "ctrl+s"))
    path = tmp_path / "test-40.png"
    assert path.exists() and str(path) in capsys.readouterr().out
    from PIL import Image
    assert Image.open(path).size == (1280, 720)


def test_default_matplotlib_keys_do_not_fire(vis):
    window = visupanels.Window(vis, tensorflowvisu.Loop(lambda *a: None, lambda i: (False, False), 1))
    ax = window.panels.ax[3]
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
    visupanels.save_png(vis, path)
    assert nonblank_png(path) and os.listdir(tmp_path) == ["panels.png"]


@pytest.mark.parametrize("name", ["train.mp4", "train.gif"])
def test_movie(vis, tmp_path, name):
    fill(vis)
    path = str(tmp_path / name)
    movie = visupanels.MovieWriter(vis, path)
    movie.budget = 1.0                                               # every frame (the budget has its own test)
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


def test_flags_refuse_bad_values(tmp_path, capsys):
    for argv, message in ((["--iterations", "0"], "not a positive whole number"),
                          (["--save-png", "x.jpg"], "must end in .png"),
                          (["--save-movie", str(tmp_path / "no" / "m.mp4")], "does not exist"),
                          (["--bogus"], "unrecognized arguments")):
        with pytest.raises(SystemExit) as e:
            tensorflowvisu.flags(argv)
        assert e.value.code == 2 and message in capsys.readouterr().err


def test_animate_schedule_and_iterations_flag(vis, monkeypatch):
    seen = []
    vis.animate(lambda i, test, train: seen.append((i, test, train)), iterations=101,
                train_data_update_freq=20, test_data_update_freq=50)
    assert len(seen) == 101 and seen[0] == (0, True, True) and seen[50] == (50, True, False)
    assert seen[100] == (100, True, True) and seen[40] == (40, False, True)
    monkeypatch.setattr(tensorflowvisu, "_FLAGS", tensorflowvisu.flags(["--text", "--iterations", "7"]))
    vis.flags = tensorflowvisu.flags()
    seen.clear()
    vis.animate(lambda i, test, train: seen.append((i, test, train)), iterations=10001, train_data_update_freq=20,
                test_data_update_freq=100)
    assert [s[0] for s in seen] == list(range(8)) and seen[-1] == (7, True, True)   # the last one is tested


def test_no_display_falls_back_to_text(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "no display" in visupanels.no_window_reason()


def test_drawing_while_the_training_thread_appends(vis):
    """The training thread appends one column after the other; a draw in between must not see a ragged
    series (matplotlib would refuse x and y of different lengths)."""
    fill(vis)
    vis.train[0].append(999)                    # an append half done: the iteration is in, its values not yet
    vis.bands[0].append(999)
    panels = visupanels.agg_figure(vis)
    panels.draw()
    panels.fig.canvas.draw()
    assert len(panels.lines[4][0].get_xdata()) == len(panels.lines[4][0].get_ydata()) == 5


def test_movie_keeps_to_its_budget_and_ends_on_the_last_state(vis, tmp_path):
    fill(vis)
    movie = visupanels.MovieWriter(vis, str(tmp_path / "m.gif"))
    movie.budget = 0.0                                               # no time for drawing at all
    for i in range(5):
        vis.append_test_curves_data(100 + i, 0.9, 10)
        movie.frame()
    assert (movie.frames, movie.skipped) == (1, 4)                   # the first frame only
    movie.close()
    assert movie.frames == 2 and movie.drawn == vis.version          # and the final state, forced
