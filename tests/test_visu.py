"""tensorflowvisu and its display on Agg: the digit images, the bands, the course's panel numbers and keys, the
limits that keep every curve readable (and move rarely), NaN runs, the cheap frames against full draws, the
published snapshot, the pacing, the movie's slots, the outputs."""
import json
import math
import os
import threading

import numpy as np
import pytest

os.environ["MPLBACKEND"] = "Agg"
import tensorflowvisu
from visualiser import display, movie, options, pacing, panels, runloop, window


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
    mosaic = panels.digit_mosaic(fetched(*args))
    assert mosaic.dtype == np.uint8 and (mosaic[..., 3] == 255).all()                     # RGBA, opaque
    return mosaic[..., :3]


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
    red = np.round(np.array(panels.RED) * 255)
    glyphs = panels.label_glyphs()
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
    glyphs = panels.label_glyphs()
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
    assert (cell(out, 7, 4) == np.round(np.array(panels.EMPTY) * 255)).all()


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
    vis.publish()


def test_a_screen_gets_the_first_training_figures_before_the_first_test(vis):
    # _first_figures: with a screen waiting (first_early), step 0's training figures are published once all
    # three are in, before its test; not counted as a step's update, which the step's own publish() then is
    rng = np.random.default_rng(2)
    for early in (False, True):
        vis = tensorflowvisu.MnistDataVis(title="test")
        vis.first_early = early
        vis.append_training_curves_data(0, 0.1, 230.0)
        vis.append_data_histograms(0, rng.normal(size=100), rng.normal(size=10))
        assert vis.published is None                               # the digits are not in yet
        vis.update_image1(np.zeros((280, 280, 3), np.uint8))
        if not early:
            assert vis.published is None
            continue
        iteration, n_train, n_test, n_bands, training, test, updates = vis.published
        assert (iteration, n_train, n_test, n_bands, test, updates) == (0, 1, 0, 1, None, 0) and training is not None
        vis.append_test_curves_data(0, 0.1, 231.0)
        vis.update_image2(np.full((700, 1120, 3), 200, np.uint8))
        assert vis.published[2] == 0                               # nothing more until the step is done
        vis.publish(0)
        assert vis.published[2] == 1 and vis.published[5] is not None and vis.published[6] == 1
        vis.append_training_curves_data(10, 0.5, 100.0)            # later steps: only their own publish()
        vis.update_image1(np.ones((280, 280, 3), np.uint8))
        assert vis.published[1] == 1


def drawn(vis, length=None):
    """The six panels of `vis` as published, on an Agg figure: (screen, its panels view)."""
    screen = display.agg_screen(vis)
    screen.draw(display.Snapshot(vis, length), "iteration 0")
    return screen, screen.view


def test_panels_are_numbered_as_the_course_numbers_them(vis):
    fill(vis)
    screen, p = drawn(vis)
    assert all(ax.get_visible() for ax in p.ax.values())
    title = {n: p.names[n].get_text() + " " + p.figures[n].get_text() for n in p.ax}
    assert title[1].startswith("accuracy") and "max 80.00%" in title[1]
    assert title[2].startswith("cross-entropy loss") and title[3].strip() == "training digits"
    assert title[4].startswith("weights") and title[5].startswith("biases") and title[6].startswith("test digits")
    x = {n: p.ax[n].get_position(original=True).x0 for n in p.ax}      # the slots, before imshow's aspect
    y = {n: p.ax[n].get_position(original=True).y0 for n in p.ax}
    assert x[1] < x[2] < x[3] and x[4] < x[5] < x[6] and y[1] == y[2] == y[3] > y[4] == y[5] == y[6]
    train, test = p.lines[1]
    assert list(test.get_xdata()) == [0, 10, 20, 30, 40] and test.get_marker() == "o"
    assert p.pictures[3][1].shape == (280, 280, 4) and p.pictures[6][1].shape == (700, 1120, 4)
    for n in (3, 6):                             # each picture is drawn at the size it is shown
        box = p.ax[n].bbox
        assert p.images[n].get_array().shape[:2] == (round(box.height), round(box.width))
    scale = p.scale.get_window_extent(screen.fig.canvas.get_renderer())
    assert scale.x1 <= p.ax[6].get_window_extent().x0 + 1       # the test digits' scale is on their left
    assert p.ax[1].get_xlim()[1] >= 40 and vis.get_max_test_accuracy() == pytest.approx(0.8)


def test_the_iteration_axis_spans_the_run_from_the_start(vis):
    fill(vis)
    _, p = drawn(vis, length=2001)
    for n in (1, 2, 4, 5):
        assert p.ax[n].get_xlim() == pytest.approx((0, 2000 * 1.02))


def test_a_huge_first_test_loss_does_not_flatten_the_loss_panel(vis):
    """A batch-norm step tested at iteration 0, before its moving averages fill, prints a test loss of 1e12."""
    fill(vis, steps=30, first_test_loss=1.8e12)
    _, p = drawn(vis)
    bottom, top = p.ax[2].get_ylim()
    assert bottom == 0 and 50 < top < 200                            # the curves fill the panel
    assert "test loss 1.8e+12 at iteration 0" in p.off_scale.get_text()   # and the point above it is named


def test_loss_limits_on_short_and_long_runs():
    top, off = panels.loss_limits(([0, 20, 40], [0.1, 0.8, 0.9], [230, 40, 30]), ([0, 20], [0.1, 0.8], [1e10, 45]), 40)
    assert 30 < top < 60 and off == (0, 1e10)
    top, off = panels.loss_limits(([0], [0.1], [230]), ([0], [0.1], [240]), 0)   # the very first iteration
    assert top > 240 and off is None
    assert panels.loss_limits(([], [], []), ([], [], []), 0) == (1.0, None)


def test_limits_move_in_coarse_steps():
    """Hysteresis: limits stay while the data stays inside them and fills half of them."""
    assert panels.steady(None, (0, 10), 0, 8) == (0, 10)                  # the first limits
    assert panels.steady((0, 10), (0, 6), 0, 5.2) == (0, 10)               # fills 52%: kept
    assert panels.steady((0, 10), (0, 5), 0, 4.9) == (0, 5)                # fills 49%: shrinks
    assert panels.steady((0, 10), (0, 15), 0, 10.5) == (0, 15)             # leaves it: grows
    assert panels.steady((0.5, 1), (0.4, 1), 0.45, 1) == (0.4, 1)          # leaves it at the bottom
    assert panels.steady((0, 10), (0, 3), 0, float("nan")) == (0, 3)       # no finite data: what is asked
    assert panels.steady((0, 10), (0, 5), 0, 4.9, tighten=False) == (0, 10)  # a zoom in waits for the budget
    assert panels.steady((0, 10), (0, 15), 0, 10.5, tighten=False) == (0, 15)  # growing data never waits
    assert [panels.nice_ceil(x) for x in (0.7, 1, 1.01, 13, 47, 230)] == pytest.approx([0.8, 1, 1.2, 15, 50, 250])


def test_a_falling_loss_redraws_its_axes_a_few_times_not_at_every_frame(vis):
    screen = display.agg_screen(vis)
    kinds = []
    for i in range(0, 2000, 10):               # a loss falling from 230 to 4, every 10 iterations
        vis.append_training_curves_data(i, 0.9, 4 + 226 * np.exp(-i / 300))
        vis.publish(i)
        kinds.append(screen.draw(display.Snapshot(vis, 2000), f"iteration {i}")[0])
    assert kinds[0] == "full" and kinds.count("full") == 1
    assert 1 <= kinds.count("restage") <= 8 and kinds.count("blit") >= 190, kinds


def test_cheap_frames_are_what_a_full_draw_would_show(vis):
    """Each frame restores the background of what changed and draws it (blit), or draws again the axes whose
    limits moved (restage): the picture must be the one a full draw of the same state makes, pixel for pixel."""
    screen = display.agg_screen(vis)
    rng = np.random.default_rng(0)
    kinds = set()
    for i in range(0, 1500, 20):
        vis.append_training_curves_data(i, 0.5 + i / 4000, 200 * np.exp(-i / 300))
        vis.append_data_histograms(i, rng.normal(size=500) * (1 + i / 300), rng.normal(size=50))
        vis.update_image1(np.full((280, 280, 3), i % 256, np.uint8))
        if i % 100 == 0:
            vis.append_test_curves_data(i, 0.6 + i / 4000, 180 * np.exp(-i / 300))
        if i == 200:                  # the first test picture: panel 6 takes the picture's shape
            vis.update_image2(np.full((700, 1120, 3), 128, np.uint8))
        vis.publish(i)
        kind, _ = screen.draw(display.Snapshot(vis, 1500), f"iteration {i:,}")
        kinds.add(kind)
        if kind in ("blit", "restage") and i % 100 in (0, 20):
            frame = screen.rgb()
            screen.fig.canvas.draw()
            assert np.array_equal(frame, screen.rgb()), (i, kind)
    assert {"blit", "restage"} <= kinds


def test_a_layout_seen_before_comes_back_from_its_cached_background(vis):
    fill(vis)
    screen, _ = drawn(vis)
    snap = display.Snapshot(vis)
    assert screen.key("3") and screen.draw(snap, "x")[0] == "full"
    assert screen.key("0") and screen.draw(snap, "x")[0] == "cached"
    frame = screen.rgb()
    screen.fig.canvas.draw()
    assert np.array_equal(frame, screen.rgb())


def test_layouts_rendered_off_screen_leave_the_picture_and_come_back_as_a_full_draw_shows_them(vis):
    fill(vis)
    screen, _ = drawn(vis)
    snap = display.Snapshot(vis)
    before, rendered = screen.rgb(), 0
    while screen.prerender():
        rendered += 1
        assert np.array_equal(before, screen.rgb()) and screen.view.layout == "0"
    assert rendered == 9                                   # 1-9: every layout of the panels but the one shown
    assert screen.draw(snap, "iteration 0")[0] == "blit" and np.array_equal(before, screen.rgb())
    for key in "7", "3":
        assert screen.key(key) and screen.draw(snap, "iteration 0")[0] == "cached"
        frame = screen.rgb()
        screen.fig.canvas.draw()
        assert np.array_equal(frame, screen.rgb()), key


@pytest.mark.parametrize("ha, va", [("left", "top"), ("right", "baseline"), ("center", "center")])
def test_quick_text_stands_where_matplotlib_puts_the_same_text_and_inks_only_there(ha, va):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(4, 1), dpi=100)
    FigureCanvasAgg(fig)
    line = "test 97.25% (max 97.31%)"
    quick = panels.quick_text(fig, 0.5, 0.5, line, ha=ha, va=va, fontsize=10)
    plain = fig.text(0.5, 0.5, line, ha=ha, va=va, fontsize=10)      # matplotlib's own, measured, then removed
    renderer = fig.canvas.get_renderer()
    q, m = quick.get_window_extent(renderer), plain.get_window_extent(renderer)
    plain.remove()
    assert abs(q.width - m.width) < 0.08 * m.width and abs(q.x0 - m.x0) < 0.08 * m.width
    assert abs((q.y0 + q.y1) / 2 - (m.y0 + m.y1) / 2) < 4
    fig.canvas.draw()
    ink = np.argwhere(np.asarray(fig.canvas.buffer_rgba())[..., 0] < 128)        # rows from the top
    assert len(ink) > 200
    assert q.x0 - 1 <= ink[:, 1].min() and ink[:, 1].max() <= q.x1 + 1
    assert 100 - q.y1 - 1 <= ink[:, 0].min() and ink[:, 0].max() <= 100 - q.y0 + 1
    quick.set_text("two\nlines")                             # drawn by matplotlib, as any text
    assert quick.get_window_extent(renderer).height > 1.5 * q.height
    quick.set_text(line)                                     # a bbox: a plain box of its colour around the ink
    quick.set_bbox(dict(facecolor=(0, 0, 1), lw=0, pad=2))
    fig.canvas.draw()
    blue = np.argwhere((np.asarray(fig.canvas.buffer_rgba())[..., :3] == (0, 0, 255)).all(-1))
    pad = round(2 * 100 / 72)
    assert blue[:, 1].min() == round(q.x0) - pad and blue[:, 1].max() >= q.x1 + pad - 2
    assert 100 - q.y1 - pad - 1 <= blue[:, 0].min() and blue[:, 0].max() <= 100 - q.y0 + pad + 1


def test_a_line_put_together_from_its_letters_is_the_line_pillow_draws():
    """panels.coverage: a quick text's new line is its letters' inks put together, not a FreeType call; the
    pixels are Pillow's own for that line, at every size and anchor a panel uses, letters that meet ("fi",
    "ffl", "jj") included. Fails with a max or a sum where letters meet, or with Pillow's Raqm layout."""
    from matplotlib.font_manager import FontProperties
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    lines = ([f"{d}: {v:+.1f}" for d, v in enumerate(rng.normal(size=10) * 5)]
             + [f"{v:.1f}%" for v in rng.random(5) * 12] + [str(v) for v in rng.integers(0, 10000, 8)]
             + ["the diagonal: 9,176 of 10,000 right = 91.76%", "4 read as 9: 35", "first layer (fi, ffl, jj)",
                "Ty AVAW", "iteration 1,234  ", " test 97.25% (max 97.31%)"])
    for size in (6, 8.67, 10, 13, 16):
        for ha in ("left", "center", "right"):
            for va in ("center", "baseline", "top", "center_baseline"):
                for line in lines:
                    placed = panels._place(line, FontProperties(size=size), 100, ha, va)
                    font, where, (left, top, right, bottom), _ = placed
                    pillow = Image.new("L", (right - left, bottom - top))
                    ImageDraw.Draw(pillow).text((-left, -top), line, font=font, fill=255, anchor=where)
                    ink = panels._ink(line, placed, (0.2, 0.4, 0.6, 1.0))
                    assert np.array_equal(ink[::-1, :, 3], np.asarray(pillow)), (line, size, ha, va)
                    assert (ink[..., :3] == (51, 102, 153)).all()


def test_quick_texts_draw_the_pixels_of_as_many_quick_texts():
    """panels.quick_texts (the inside view's 100 counts, one picture) inks the same pixels as a quick text at
    each point: white and dark, one to four digits, empty cells, then new texts in the same artist."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rng = np.random.default_rng(0)
    cells = [(c, r) for r in range(10) for c in range(10)]

    def picture(batched, texts, colours, across=False):
        """across: x in the axes' fraction, y in data (the accuracy per digit's texts, aligned right)"""
        fig = Figure(figsize=(3, 3), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes([0.1, 0.1, 0.8, 0.8])
        ax.set(xlim=(-0.5, 9.5), ylim=(9.5, -0.5), facecolor="0.5")               # white and dark both show
        points = [((c + 1) / 10, r) for c, r in cells] if across else cells
        place = dict(ha="right", va="top", transform=ax.get_yaxis_transform()) if across else {}
        if batched:
            panels.quick_texts(ax, points, 6, **place).set_texts(texts, colours)
        else:
            for (x, y), text, colour in zip(points, texts, colours):
                panels.quick_text(ax, x, y, text, **{"ha": "center", "va": "center", **place}, fontsize=6,
                                  color=colour)
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).copy()

    for across in (False, True, False):
        texts = [str(v) if v % 7 else "" for v in rng.integers(0, 3000, 100) // rng.choice([1, 10, 100, 1000], 100)]
        colours = [("white", "#222222")[k % 2] for k in range(100)]
        batched, single = picture(True, texts, colours, across), picture(False, texts, colours, across)
        assert (single != picture(False, [""] * 100, colours, across)).any()      # the texts are inked
        assert np.array_equal(batched, single)


@pytest.mark.parametrize("fontsize, labelpad", [(7, 1), (9, 4), (10, 0)])
def test_a_label_put_under_once_stands_where_matplotlib_places_it(fontsize, labelpad):
    """panels.label_under: the x label of an axes (the inside view's "iteration") at the place matplotlib's own
    placement measures, within a tenth of a pixel; its tick labels then become quick texts (quick_ticks)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def label_box(fixed):
        fig = Figure(figsize=(6, 4), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes([0.2, 0.3, 0.6, 0.5])
        ax.set_xlim(0, 2000)
        ax.tick_params(labelsize=fontsize)
        ax.set_xlabel("iteration", fontsize=fontsize, labelpad=labelpad)
        if fixed:
            panels.label_under(ax)
            panels.quick_ticks(ax)
        fig.canvas.draw()
        quick = [a for a in ax.get_children() if type(a).__name__ == "TickLabels"]
        return ax.xaxis.label.get_window_extent(fig.canvas.get_renderer()), quick

    (auto, none), (fixed, quick) = label_box(False), label_box(True)
    assert not none and quick
    assert np.allclose(fixed.extents, auto.extents, atol=0.1), (fixed, auto)


def test_quick_tick_labels_stand_where_matplotlib_puts_its_own():
    """The panels' and the inside view's tick labels are quick texts (panels.quick_ticks): each label's ink
    within 2 pixels of matplotlib's own on the same axes: both axes, signed, small and large numbers, and
    labels on top at another pad (the confusion matrix's); and the axes' tight box holds them as it holds
    matplotlib's (the inside view redraws an axes in that box)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def strips(quick, ylim, top):
        fig = Figure(figsize=(4, 3), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes([0.25, 0.2, 0.7, 0.6])
        ax.set_xlim(0, 2040)
        ax.set_ylim(*ylim)
        ax.tick_params(labelsize=8)
        if top:
            ax.xaxis.tick_top()
            ax.tick_params(length=0, pad=2, labelsize=7)
        if quick:
            panels.quick_ticks(ax)
        fig.canvas.draw()
        ink = np.asarray(fig.canvas.buffer_rgba())[..., 0] < 128
        # past the tick marks (none on top): left of the axes, and below it (above it for labels on top)
        left = ink[:, :int(0.25 * 400) - (2 if top else 8)]
        across = ink[:int(0.2 * 300) - 2] if top else ink[-int(0.2 * 300) + 8:]
        return runs(left.any(1)), runs(across.any(0)), left.sum(), across.sum(), ax.get_tightbbox().extents

    def runs(line):                          # the [start, end) of each run of inked rows or columns, gaps <= 3 merged
        edges = np.flatnonzero(np.diff(np.r_[0, line.astype(int), 0]))
        spans = [list(s) for s in edges.reshape(-1, 2)]
        merged = [spans[0]] if spans else []
        for a, b in spans[1:]:
            if a - merged[-1][1] <= 3:
                merged[-1][1] = b
            else:
                merged.append([a, b])
        return merged

    for ylim, top in (((0, 1.02), False), ((-0.65, 0.7), False), ((0, 250), False), ((0.002, 0.0031), False),
                      ((9.5, -0.5), True)):
        quick, plain = strips(True, ylim, top), strips(False, ylim, top)
        for q, m in zip(quick[:2], plain[:2]):
            assert len(q) == len(m) >= 3, (ylim, q, m)
            assert np.abs(np.array(q) - np.array(m)).max() <= 2, (ylim, q, m)
        assert abs(quick[2] - plain[2]) < 0.25 * plain[2] and abs(quick[3] - plain[3]) < 0.25 * plain[3]
        assert np.abs(quick[4] - plain[4]).max() <= 4, (quick[4], plain[4])     # a restage's box holds them


@pytest.mark.parametrize("rect", [[0.1, 0.1, 0.3, 0.4], [0.123, 0.377, 0.2345, 0.31], [0.5, 0.05, 0.47, 0.9]])
def test_small_pictures_enlarged_are_matplotlibs_nearest_pixels(rect):
    # the look-inside view's images (a colour map over a small array, an RGB one) drawn by panels.pixels: the
    # same pixels as matplotlib's own "nearest" draw, at boxes of fractional size and place
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def drawn(quick):
        rng = np.random.default_rng(1)                      # the same arrays both ways
        fig = Figure(figsize=(6.4, 3.6), dpi=100)
        FigureCanvasAgg(fig)
        left = fig.add_axes(rect)
        right = fig.add_axes([rect[0] + 0.01, 0.02, 0.2, 0.2])
        images = [left.imshow(rng.uniform(-1, 1, (13, 37)), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest"),
                  right.imshow(rng.uniform(0, 1, (10, 10, 3)), interpolation="nearest")]
        if quick:
            images = [panels.pixels(image) for image in images]
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).copy(), images

    plain, _ = drawn(False)
    quick, images = drawn(True)
    assert all(type(image).__name__ == "Picture" for image in images)
    assert np.array_equal(quick, plain), np.argwhere((quick != plain).any(2))[:10]
    images[0].axes.set_xlim(0, 5)                             # zoomed in: drawn by matplotlib, as any image
    images[0].axes.figure.canvas.draw()


def test_quick_tick_marks_and_grid_are_matplotlibs_own_pixels():
    """quick_ticks draws an axis's tick marks and grid lines as one line each (TickMarks): the same pixels as
    matplotlib's own, ticks out or in, on two sides or four, with a tick on the axes' edge; the zoomed
    axes's marks follow its new limits."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def picture(quick, ticks, xlim):
        fig = Figure(figsize=(4, 3), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes([0.2, 0.2, 0.7, 0.7])
        ax.grid(alpha=0.3)
        ax.set(xlim=(0, 2040), ylim=(0.8, 1.01))
        ax.tick_params(labelbottom=False, labelleft=False, **ticks)      # the marks alone (labels: the test above)
        if quick:
            panels.quick_ticks(ax)
        ax.set_xlim(*xlim)                                               # as a zoom (O) does
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)

    for ticks in ({}, {"top": True, "right": True, "direction": "in", "length": 6}):
        for xlim in ((0, 2040), (0, 2000), (300, 900)):
            quick, plain = picture(True, ticks, xlim), picture(False, ticks, xlim)
            assert (plain < 200).sum() > 400                              # marks and lines there to compare
            assert np.abs(quick - plain).max() <= 8, (ticks, xlim)


def test_shrink_is_the_mean_of_the_pixels_whose_centres_fall_in_each(mnist):
    """The digit mosaics are resampled once to the size they are shown: against a reference written out."""
    raw = {"digits": (mnist.test.images[:1000, :, :, 0] * 255).astype(np.uint8),
           "labels": mnist.test.labels[:1000].argmax(1), "computed": mnist.test.labels[:1000].argmax(1),
           "shown": 1000, "lines": 25}
    mosaic = panels.digit_mosaic(raw)
    small = panels.shrink(mosaic, 237, 379)

    def reference(picture, h, w):
        rows = np.minimum(((np.arange(picture.shape[0]) + 0.5) * h / picture.shape[0]).astype(int), h - 1)
        cols = np.minimum(((np.arange(picture.shape[1]) + 0.5) * w / picture.shape[1]).astype(int), w - 1)
        out = np.zeros((h, w, picture.shape[2]))
        np.add.at(out, (rows[:, None], cols[None, :]), picture.astype(float))
        return out / np.bincount(rows)[:, None, None] / np.bincount(cols)[None, :, None]
    expected = reference(mosaic, 237, 379)
    assert small.shape == (237, 379, 4) and np.abs(small - expected).max() <= 1.0
    assert panels.shrink(mosaic, 700, 1120) is mosaic


def test_a_frame_shows_what_was_published_not_a_half_done_step(vis):
    """The training thread appends one column after the other and publishes after the step: a frame drawn
    in between shows the last published step, whole."""
    fill(vis)
    vis.train[0].append(999)                    # the next step under way: its iteration in, its values not yet
    vis.bands[0].append(999)
    vis.test[0].append(999)
    vis.test[1].append(0.99)
    _, p = drawn(vis)
    assert len(p.lines[1][0].get_xdata()) == len(p.lines[1][0].get_ydata()) == 5
    assert list(p.lines[1][1].get_xdata()) == [0, 10, 20, 30, 40]
    vis.test[2].append(1.0)
    vis.train[1].append(0.9)
    vis.train[2].append(1.0)
    vis.bands[1].append(vis.bands[1][-1])
    vis.bands[2].append(vis.bands[2][-1])
    assert display.Snapshot(vis).train[0][-1] == 40 and vis.publish(999)[0] == 999
    assert display.Snapshot(vis).train[0][-1] == 999 and display.Snapshot(vis).test[0][-1] == 999


def test_pacing_keeps_the_frames_within_their_budget():
    pacer = pacing.Pacer(budget=0.1, every=0.2, burst=0.3, debt=0.3, now=0.0)
    assert pacer.ready(0.0)
    pacer.spent(0.0, 0.02)
    assert not pacer.ready(0.1) and pacer.ready(0.2)            # at most one frame every 0.2 s
    pacer.spent(0.2, 0.5)                                       # a costly frame: the bucket is overdrawn ...
    assert not pacer.ready(0.5) and pacer.wait(0.5) == pytest.approx(0.2 / 0.1 - 0.3)  # ... until refilled
    assert pacer.ready(2.3)
    pacer.spent(2.3, 5.0)                                       # a very costly one: at most `debt` overdrawn
    assert pacer.wait(2.3) == pytest.approx(0.3 / 0.1)
    pacer = pacing.Pacer(budget=0.1, every=0.0, burst=0.3, now=0.0)
    spent, t = 0.0, 0.0
    while t < 100:                                              # frames of 20 ms as often as allowed
        if pacer.ready(t):
            pacer.spent(t, 0.02)
            spent += 0.02
        t += 0.01
    assert spent / 100 == pytest.approx(0.1, abs=0.005)         # 10% of the time, burst aside


def test_draw_blocks_alternate_the_frames_and_hold_their_budget(monkeypatch, tmp_path):
    """TFVISU_DRAW_BLOCKS=S (benchmarks/draw_cost.py): frames in every other S seconds from the training's
    start; while they are off the budget does not fill, so a block with frames spends what an ordinary
    stretch of a run would; each switch is in the frame log."""
    log_path = tmp_path / "frames.jsonl"
    monkeypatch.setenv("TFVISU_FRAME_LOG", str(log_path))
    pacer, log = pacing.Pacer(budget=0.1, every=0.0, burst=0.3, now=0.0), pacing.FrameLog("window")
    assert pacing.Blocks(pacer, log).drawing(1.5)              # no start given: always on
    monkeypatch.setenv("TFVISU_DRAW_BLOCKS", "1")
    assert pacing.Blocks(pacer, log).drawing(1.5)              # nor before the training has started
    blocks = pacing.Blocks(pacer, log, start=0.0)
    assert blocks.drawing(0.5)
    pacer.spent(0.5, 0.25)                                     # 0.05 left
    assert not blocks.drawing(1.2)                             # off: 0.05 + 0.7 s x 0.1 = 0.12 held
    assert not blocks.drawing(1.9) and blocks.drawing(2.5)     # on again, with what was held
    assert pacer.tokens == pytest.approx(0.12)                 # not the 0.3 a full second more would give
    assert not blocks.drawing(3.0) and blocks.drawing(4.0)
    log.close()
    switches = [json.loads(line)["block"] for line in log_path.read_text().splitlines()]
    assert switches == ["on", "off", "on", "off", "on"]
    monkeypatch.delenv("TFVISU_DRAW_BLOCKS")
    assert pacing.Blocks(pacer, log, start=0.0).drawing(1.5)   # unset: always on


def test_draw_cost_sets_the_blocks_with_frames_against_their_neighbours():
    """benchmarks/draw_cost.py's reading, from a synthetic run: 1 ms an iteration without frames, 1.1 ms with
    them, a line every 20 iterations, blocks of 1 s; the first block with frames is left out."""
    import draw_cost
    t, i, lines, frames = 100.0, 0, [], [{"t": 100.0, "block": "on"}]
    for k in range(9):                                         # on, off, on, ... : 5 blocks on, 4 off
        on, end = k % 2 == 0, 100.0 + k + 1
        while t < end:
            i += 20
            t += 0.020 * (1.1 if on else 1.0)
            lines.append((t, f"{i}: accuracy:0.9 loss: 30.0"))
            if on and i % 200 == 0:
                frames.append({"t": t, "updates": i, "cpu": 0.02})
        frames.append({"t": end, "block": "off" if on else "on"})
    spans = draw_cost.blocks(frames)
    assert [on for _, _, on in spans] == [True, False] * 4 + [True]
    c = draw_cost.costs(draw_cost.progress(lines), spans, frames)
    assert c["blocks"] == 2          # of the blocks with frames between two without (2, 4, 6), the first left out
    assert c["cost_median"] == pytest.approx(0.1, abs=0.01) and c["cost_pooled"] == pytest.approx(0.1, abs=0.01)
    assert c["cost_min"] <= c["cost_median"] <= c["cost_max"]
    assert c["frames_cpu_share"] == pytest.approx(0.02 * 4.5, rel=0.15)   # ~4.5 frames a second of 20 ms
    assert draw_cost.costs(draw_cost.progress(lines[:40]), spans, frames) == {}   # too short: nothing to say


def test_draw_cost_refuses_a_bad_block_length():
    import subprocess
    import sys
    from conftest import ROOT
    for bad in ("0", "-1"):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "draw_cost.py"), "--blocks", bad],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "--blocks must be more than 0 seconds" in r.stderr.strip().splitlines()[-1]
        assert "Traceback" not in r.stderr


@pytest.mark.parametrize("key,shown", [("1", {1}), ("2", {2}), ("3", {3}), ("4", {4}), ("5", {5}), ("6", {6}),
                                       ("7", {1, 2}), ("8", {4, 5}), ("9", {3, 6}),
                                       ("0", {1, 2, 3, 4, 5, 6}), ("escape", {1, 2, 3, 4, 5, 6})])
def test_layout_keys(vis, key, shown):
    fill(vis)
    w = window.Window(vis, runloop.Loop(lambda *a: None, lambda i: (False, False), 10))
    w.on_key(_key(w, "3"))
    w.on_key(_key(w, key))
    assert {n for n, ax in w.screen.view.ax.items() if ax.get_visible()} == shown


class Pixels:
    """A second view for the test: one axes showing the training digits as they are; key "p"."""
    layouts = {"p": None}

    def __init__(self, fig, vis):
        self.ax = fig.add_axes([0.1, 0.1, 0.8, 0.8], visible=False)
        self.image = self.ax.imshow(np.zeros((28, 28, 3), np.uint8), animated=True)
        self.layout, self.updates = None, 0

    def set_layout(self, key):
        self.ax.set_visible(key is not None)
        self.layout = key

    def parts(self):
        return ["pixels"] if self.layout else []

    def update(self, snap):
        self.updates += 1
        if snap.pictures["training"] is not None:
            self.image.set_data(snap.pictures["training"])
        return {"pixels"}

    def artists(self, part):
        return [self.image]

    def region(self, part):
        return self.ax.bbox

    def statics(self):
        return [(self.ax, None, self.ax.bbox)]

    def forget(self):
        pass

    def reset_zoom(self):
        pass


def test_a_second_view_comes_with_its_key_and_goes_with_0(vis):
    fill(vis)
    screen = display.agg_screen(vis, views={"p": Pixels})
    snap = display.Snapshot(vis)
    screen.draw(snap, "x")
    assert screen.key("p") and isinstance(screen.view, Pixels) and screen.view.ax.get_visible()
    assert screen.draw(snap, "x")[0] == "full" and screen.view.updates == 1
    assert not any(ax.get_visible() for ax in screen.views["0"].ax.values())       # the panels made way
    assert screen.key("3") is False or isinstance(screen.view, Pixels)            # its own keys only
    assert screen.key("escape") and screen.view is screen.views["0"] and screen.view.layout == "0"
    assert not screen.views["p"].ax.get_visible() and screen.draw(snap, "x")[0] == "cached"


def test_the_keys_offered_everywhere_are_the_windows():
    from visualiser import server
    assert [k for k, _ in panels.KEYS][:10] == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"]
    assert dict(panels.KEYS)["8"] == "8 panels 4+5" and dict(panels.KEYS)["4"] == "4 weights"
    assert {k for k, *_ in server.BUTTONS} <= server.KEYS
    assert "1 accuracy, 2 loss, 3 training digits, 4 weights, 5 biases, 6 test digits" in options.KEYS_HELP


def _key(w, key):
    from matplotlib.backend_bases import KeyEvent
    return KeyEvent("key_press_event", w.fig.canvas, key)


def test_space_pauses_the_training(vis):
    calls = []
    loop = runloop.Loop(lambda i, t, u: calls.append(i), lambda i: (False, False), 6)
    w = window.Window(vis, loop)
    w.on_key(_key(w, " "))
    assert not loop.running.is_set()
    worker = threading.Thread(target=loop.run)
    worker.start()
    worker.join(0.5)
    assert calls == [] and worker.is_alive()                        # paused: no training step ran
    w.on_key(_key(w, " "))
    worker.join(5)
    assert calls == [0, 1, 2, 3, 4, 5]


def test_a_window_drawing_its_first_picture_holds_the_training_after_its_first_step_uncounted():
    calls = []
    loop = runloop.Loop(lambda i, t, u: calls.append(i), lambda i: (False, False), 4)
    loop.proceed.clear()
    worker = threading.Thread(target=loop.run)
    worker.start()
    worker.join(0.6)
    assert calls == [0] and worker.is_alive()           # the first step's figures are there to be drawn
    loop.proceed.set()
    worker.join(5)
    assert calls == [0, 1, 2, 3] and loop.held_s >= 0.5 and loop.seconds < 0.3


@pytest.mark.parametrize("first_view,early", [("0", True), ("i", False)])
def test_a_window_run_starts_the_training_while_it_makes_the_figure(vis, monkeypatch, first_view, early):
    """window.run: the first step runs while the figure is made (not under --view inside, whose view must be
    up to look at step 0); a figure that cannot be made stops that training and waits for it."""
    steps, training = [], []

    def making(self, *args, **kwargs):
        training.append(any(t.name == "training" for t in threading.enumerate()))
        raise RuntimeError("no figure here")
    monkeypatch.setattr(window.Window, "__init__", making)
    vis.first_view = first_view
    loop = runloop.Loop(lambda i, t, u: steps.append(i), lambda i: (False, False), 3)
    with pytest.raises(RuntimeError, match="no figure here"):
        window.run(vis, loop)
    assert training == [early]
    assert not any(t.name == "training" for t in threading.enumerate())      # stopped, and joined
    if early:                              # held after its first step at most, then stopped
        assert steps in ([], [0]) and loop.done.is_set()
    else:
        assert steps == [] and not loop.done.is_set()


def test_a_keys_frame_holds_the_next_training_step_while_it_is_drawn(vis):
    fill(vis)
    loop = runloop.Loop(lambda i, t, u: None, lambda i: (False, False), 3)
    core = display.Display(vis, loop, display.agg_screen(vis))
    during = []
    core.screen.draw = lambda *a, during=during, draw=core.screen.draw: (during.append(loop.proceed.is_set()),
                                                                          draw(*a))[1]
    core.press("2")
    core.tick()
    assert during == [False] and loop.proceed.is_set()


def test_ctrl_s_saves_a_png_and_says_where(vis, tmp_path, monkeypatch, capsys):
    fill(vis)
    monkeypatch.chdir(tmp_path)
    w = window.Window(vis, runloop.Loop(lambda *a: None, lambda i: (False, False), 1))
    w.on_key(_key(w, "ctrl+s"))
    path = tmp_path / "test-40.png"
    assert path.exists() and str(path) in capsys.readouterr().out
    from PIL import Image
    assert Image.open(path).size == (1280, 720) and nonblank_png(path)


def test_default_matplotlib_keys_do_not_fire(vis):
    w = window.Window(vis, runloop.Loop(lambda *a: None, lambda i: (False, False), 1))
    ax = w.screen.view.ax[2]
    w.fig.canvas.callbacks.process("key_press_event", _key(w, "l"))   # matplotlib: log scale
    w.fig.canvas.callbacks.process("key_press_event", _key(w, "g"))   # matplotlib: grid
    assert ax.get_yscale() == "linear"


def nonblank_png(path):
    from PIL import Image
    pixels = np.asarray(Image.open(path).convert("RGB"), float)
    return pixels.std() > 20


def test_save_png_is_atomic_and_nonblank(vis, tmp_path, capsys):
    fill(vis)
    path = str(tmp_path / "panels.png")
    display.save_final_png(vis, path)
    assert nonblank_png(path) and os.listdir(tmp_path) == ["panels.png"]
    assert f"saved the panels to {path}" in capsys.readouterr().out


def test_nan_and_inf_are_drawn_as_gaps(vis, tmp_path):
    """A diverging run (step 2.0's NaN lesson) must be shown, and the PNG and movie still written."""
    fill(vis)
    nan = float("nan")
    vis.append_training_curves_data(50, 0.1, nan)
    vis.append_test_curves_data(50, 0.098, nan)
    vis.append_data_histograms(60, np.full(100, nan), np.full(10, np.inf))
    vis.publish()
    _, p = drawn(vis)
    polygons, which = panels.band_polygons(np.array([0.0, 1, 2, 3]), np.array([[0.0] * 8, [1] * 8, [nan] * 8, [2] * 8]))
    assert len(polygons) == 14 and which[:7] == list(range(7))            # two stretches: the NaN row is a gap
    display.save_final_png(vis, str(tmp_path / "nan.png"))
    m = movie.Movie(vis, str(tmp_path / "nan.gif"), lambda i: (True, True), 2)
    m.frame()
    m.close()
    assert sorted(os.listdir(tmp_path)) == ["nan.gif", "nan.png"]


def three_one(i, count=300):
    """Step 3.1's schedule (training figures every 20 iterations, a test every 100, the last one both)."""
    return runloop.schedule(count, 20, 100)(i)


def test_a_short_runs_movie_lasts_10_s_and_a_long_one_a_minute_at_most(vis, tmp_path):
    short = movie.Movie(vis, str(tmp_path / "s.gif"), three_one, 300)        # 16 panel updates
    for i in range(16):
        vis.append_test_curves_data(i * 20, 0.5 + i / 40, 10)
        vis.publish(i * 20)
        assert short.due()
        short.frame()
        assert not short.due()
    short.close()
    assert short.writer.frames == 16 and short.writer.frames / short.fps == pytest.approx(10)
    long = movie.Movie(vis, str(tmp_path / "l.gif"), lambda i: three_one(i, 10001), 10001)   # 501 updates
    assert long.every == 2 and math.ceil(501 / long.every) <= 8 * 60
    long.close(complete=False)


@pytest.mark.parametrize("name", ["train.mp4", "train.gif"])
def test_movie_frames_are_the_states_drawn_the_last_one_last(vis, tmp_path, name):
    """A frame for each update drawn (the budget skipped the others); the state the run ended in is drawn
    when the movie is closed; the frames are timed so that it lasts 10 s."""
    path = str(tmp_path / name)
    m = movie.Movie(vis, path, lambda i: (True, False), 12)
    for i in range(12):
        vis.append_test_curves_data(100 + 10 * i, 0.9 - i / 50, 10 + i)   # frames differ, as in training
        vis.publish(100 + 10 * i)
        if i in (0, 1, 5, 6):                                       # drawn only at these; the others skipped
            m.frame()
    assert not os.path.exists(path)                                  # nothing half-written under the name
    m.close()
    assert os.listdir(tmp_path) == [name] and m.writer.frames == 5 and m.fps == pytest.approx(0.5)
    if name.endswith(".gif"):
        from PIL import Image
        gif = Image.open(path)
        assert gif.n_frames == 5 and gif.info["duration"] == 2000
    else:
        import imageio_ffmpeg
        reader = imageio_ffmpeg.read_frames(path)
        meta = next(reader)
        frames = [np.frombuffer(f, np.uint8).reshape(720, 1280, 3) for f in reader]
        assert meta["size"] == (1280, 720) and len(frames) == 5 and meta["duration"] == pytest.approx(10, abs=0.6)
        assert np.abs(frames[-1].astype(int) - frames[-2].astype(int)).mean() > 0.05  # the end, drawn last


def test_the_frame_log_records_every_frame_and_costs_nothing_unset(vis, tmp_path, monkeypatch):
    fill(vis)
    loop = runloop.Loop(lambda i, test, train: vis.publish(i), lambda i: (False, False), 3)
    assert display.Display(vis, loop, display.agg_screen(vis)).log.file is None
    log = tmp_path / "frames.jsonl"
    monkeypatch.setenv("TFVISU_FRAME_LOG", str(log))
    film = movie.Movie(vis, str(tmp_path / "run.gif"), lambda i: (True, False), 3)
    core = display.Display(vis, loop, display.agg_screen(vis), "test", film)          # the movie's frames too
    core.run()
    film.close()
    import json
    frames = [json.loads(line) for line in log.read_text().splitlines()]
    shown = [f for f in frames if f["target"] == "test"]
    assert shown and shown[-1]["iteration"] == 2 and {"t", "kind", "cpu", "updates", "target"} <= set(shown[-1])
    assert [f["iteration"] for f in frames if f["target"] == "movie"][-1:] == [2]


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
    seen.clear()
    vis.animate(lambda i, test, train: seen.append((i, test, train)), iterations=7, train_data_update_freq=20,
                test_data_update_freq=100)
    assert [s[0] for s in seen] == list(range(7)) and seen[-1] == (6, True, True)   # the last one is tested
    out = capsys.readouterr().out
    assert "trained 7 iterations in" in out and "stopped early" not in out
    vis.animate(lambda i, test, train: None, iterations=1)
    assert "trained 1 iteration in" in capsys.readouterr().out


def test_no_display_falls_back_to_text(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "no display" in window.no_window_reason()


def test_agg_backend_is_named_as_the_reason(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    reason = window.no_window_reason()
    assert "'agg' (set by $MPLBACKEND)" in reason and "display" not in reason




def test_test_digits_scale_follows_the_latest_image(vis):
    """Early tests sample every 5th digit (scale 100-50%), later ones show every mistake (100-90%)."""
    def raw(per_cell):
        return {"digits": np.zeros((1000, 28, 28), np.uint8), "labels": np.zeros(1000, int),
                "computed": np.ones(1000, int), "shown": 1000, "lines": 25, "per_cell": per_cell, "tested": 10000}
    screen = display.agg_screen(vis)
    readings = []
    for per_cell in (5, 1):
        vis.update_image2(raw(per_cell))
        vis.publish()
        screen.draw(display.Snapshot(vis), "x")
        p = screen.view
        bottom = p.ax[6].get_ylim()[0]                     # the image's last pixel row, read on the scale
        readings.append(float(p.scale._functions[0](bottom)))
        assert ("every 5th" in p.figures[6].get_text()) == (per_cell == 5)
    assert readings == pytest.approx([0.5, 0.9], abs=0.002)
    frame = screen.rgb()
    screen.fig.canvas.draw()
    assert np.array_equal(frame, screen.rgb())             # the new scale is on screen (a restage)


def test_the_visualiser_is_three_modules_deep_and_nothing_renames_its_modules():
    """The longest chain of imports among visualiser's modules is at most three, and no caller imports one of
    them under another name (their names say what they are)."""
    import ast
    from test_layout import imports, modules
    found = {name: path for name, path in modules().items() if name.startswith("visualiser.")}
    graph = {name: {m for m in imports(name, path) if m in found} for name, path in found.items()}

    def depth(name):
        return 1 + max((depth(m) for m in graph[name]), default=0)
    assert max(depth(name) for name in graph) <= 3, {name: depth(name) for name in graph}
    from conftest import ROOT
    for folder, _, names in os.walk(ROOT):
        if ".venv" in folder or ".git" in folder:
            continue
        for name in names:
            if name.endswith(".py"):
                tree = ast.parse(open(os.path.join(folder, name)).read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("visualiser"):
                        assert all(a.asname is None for a in node.names), (name, node.lineno)


def test_the_pages_png_is_the_picture(vis):
    """The page's frames are PNGs written by files.png_bytes: Pillow reads back the very pixels."""
    import io
    from PIL import Image
    from visualiser import files
    fill(vis)
    screen, _ = drawn(vis)
    rgb = screen.rgb()
    back = np.asarray(Image.open(io.BytesIO(files.png_bytes(rgb))).convert("RGB"))
    assert np.array_equal(back, rgb) and len(files.png_bytes(rgb)) < rgb.nbytes / 5


def test_new_data_is_drawn_at_once_a_later_iteration_alone_twice_a_second(vis):
    core = display.Display(vis, runloop.Loop(lambda *a: None, lambda i: (False, False), 10), None, "test")
    assert not core._moved(0.0)                                  # nothing published yet
    vis.append_training_curves_data(1, 0.5, 50)
    core.drawn, core.frame_at = vis.publish(1), 10.0
    assert not core._moved(10.1)
    vis.publish(2)                                               # a step without new figures
    assert not core._moved(10.3) and core._moved(10.5)
    vis.append_training_curves_data(3, 0.6, 40)
    vis.publish(3)
    assert core._moved(10.1)                                     # new figures: as soon as the pace allows
