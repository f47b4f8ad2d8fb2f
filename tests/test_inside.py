"""Look inside (visualiser/inside.py, inside_view.py): read from each step's own graph, run in-process for a
few iterations, checked at every test run against what that test printed and computed; the view's drawing
on Agg, updated without making artists."""
import contextlib
import io
import os

import numpy as np
import pytest

os.environ["MPLBACKEND"] = "Agg"
import course
import tensorflowvisu
from conftest import run_script
from inside_cost import run_step          # a step run in this process, seen at each test (benchmarks/)
from visualiser import inside, inside_view, mistakes

DIGITS = (0, 1, 2, -1)        # traced at every test: the first mistakes, and the last digit shown (right)


def check_every_test(traced):
    """at_test: the confusion matrix against the test's accuracy, the trace against the test's classes."""
    def at_test(vis, network):
        fetched = vis.digits_fetched("test")
        m = fetched["confusion"]
        assert m.shape == (10, 10) and m.sum() == fetched["tested"] == 10000
        assert np.trace(m) == round(vis.test[1][-1] * 10000), (np.trace(m), vis.test[1][-1])
        for k in DIGITS:
            digit = mistakes.test_digit(fetched, k)
            trace = network.trace(digit)
            if network.outline().notes.get("trace", "").startswith("one layer"):
                assert trace.activations == ()
            assert trace.computed == digit.computed, (k, digit.label, digit.computed, trace.probabilities)
            traced.append((digit.label, digit.computed, trace.computed))
    return at_test


# step: (iterations, the first layer's pictures (n, h, w): 100 of a dense W1's 200, the layers' shapes). 1.0 at
# its course length (41 tests), for its weight pictures; 3 iterations of 5.0 test 3 times
FAST = {"1.0": (2001, (10, 28, 28), []),
        "2.2": (101, (100, 28, 28), [(200,), (100,), (60,), (30,)]),
        "3.1": (21, (6, 6, 6), [(28, 28, 6), (14, 14, 12), (7, 7, 24), (200,)]),
        "2.0": (1, (100, 28, 28), [(200,), (100,), (60,), (30,)]),
        "2.1": (1, (100, 28, 28), [(200,), (100,), (60,), (30,)]),
        "3.0": (1, (4, 5, 5), [(28, 28, 4), (14, 14, 8), (7, 7, 12), (200,)]),
        "4.0": (21, (100, 28, 28), [(200,), (100,), (60,), (30,)]),
        "4.1": (1, (100, 28, 28), [(200,), (100,), (60,), (30,)]),
        "5.0": (3, (16, 3, 3), [(12, 12, 16), (6, 6, 32), (3, 3, 64), (128,)])}
SLOW = {"4.2": (21, (24, 6, 6), [(28, 28, 24), (14, 14, 48), (7, 7, 64), (200,)]),
        "5.1": (1, (32, 3, 3), [(14, 14, 32), (14, 14, 32), (7, 7, 64), (7, 7, 64), (3, 3, 128), (3, 3, 128)])}
STEPS = {**FAST, **SLOW}


@pytest.fixture(scope="module")
def ran():
    """step -> (its globals, Network, Mistakes, what it printed, the digits traced), each step run once in this
    module, checked at every one of its test runs by check_every_test."""
    runs = {}

    def run(step):
        if step not in runs:
            traced, out = [], io.StringIO()
            with contextlib.redirect_stdout(out):
                names, network, history = run_step(step, STEPS[step][0], at_test=check_every_test(traced))
            runs[step] = names, network, history, out.getvalue(), traced
        return runs[step]
    yield run
    for names, *_ in runs.values():
        names["sess"].close()


@pytest.mark.parametrize("step", list(FAST) + [pytest.param(s, marks=pytest.mark.slow) for s in SLOW])
def test_each_step_read_from_its_graph_agrees_with_its_test_runs(ran, step):
    _, pictures, layers = STEPS[step]
    names, network, history, out, traced = ran(step)
    printed = course.parse_run(out)["test"]
    assert len(printed) == len(history.tests) >= 1 and len(traced) == len(printed) * len(DIGITS)
    for (i, accuracy, _), (tested_at, m) in zip(printed, history.tests):       # what the console said
        assert tested_at == i and np.trace(m) == round(accuracy * 10000)
    outline = network.outline()
    assert outline.pictures == pictures and network.pictures().shape == pictures
    digit = mistakes.test_digit(names["datavis"].digits_fetched("test"), 0)
    both, alone = network.look(digit), network.trace(digit)      # one run for a frame: the same figures
    assert np.array_equal(both[0], network.pictures()) and both[1].computed == alone.computed
    assert np.allclose(both[1].probabilities, alone.probabilities, atol=1e-6) and network.look()[1] is None
    assert [layer.shape for layer in outline.layers] == layers
    assert outline.pictures_are_classes == (step == "1.0")
    if step == "1.0":
        assert outline.notes["trace"].startswith("one layer")
    else:
        assert "trace" not in outline.notes


def test_first_layer_pictures_are_the_weights_and_read_as_digits_after_a_run(ran, mnist):
    """Step 1.0 after its course length: each of the ten weight pictures looks most like the average of its own
    digit (less the average of all digits) among the ten averages, as a blurred digit would."""
    names, network, *_ = ran("1.0")
    pictures = network.pictures()
    assert np.array_equal(pictures, names["sess"].run(names["W"]).T.reshape(10, 28, 28))
    images, labels = mnist.train.images.reshape(-1, 784), mnist.train.labels.argmax(1)
    means = np.stack([images[labels == d].mean(0) for d in range(10)]) - images.mean(0)
    similarity = np.corrcoef(np.concatenate([pictures.reshape(10, 784), means]))[:10, 10:]   # [picture, average]
    assert list(similarity.argmax(1)) == list(range(10)), similarity.round(2)


def artists(fig):
    return len(fig.findobj())


@pytest.mark.parametrize("step", ["1.0", "2.2", "3.1", pytest.param("4.2", marks=pytest.mark.slow)])
def test_the_view_draws_a_step_and_updates_without_making_artists(ran, tmp_path, step):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    names, network, history, *_ = ran(step)
    iterations = STEPS[step][0]
    fetched = names["datavis"].digits_fetched("test")
    traces = [network.trace(mistakes.test_digit(fetched, k)) for k in range(4)]
    fig = Figure(figsize=(12.8, 7.2), dpi=100)
    FigureCanvasAgg(fig)
    view = inside_view.InsideView(fig, [0.02, 0.03, 0.96, 0.9], network.outline(), iterations)
    first = mistakes.Mistakes()                    # the untrained network's test: digits never right, scales at 0
    first.add(*history.tests[0])
    assert view.update(first) == [view.ax_confusion, view.ax_accuracy, view.ax_pairs]
    assert view.ax_accuracy.get_xlim()[0] == 0
    scales = lambda v: (v.ax_accuracy.get_xlim(), v.ax_pairs.get_ylim())      # noqa: E731
    twin = inside_view.InsideView(fig, [0.02, 0.03, 0.96, 0.9], network.outline(), iterations)
    twin.update(first)
    twin.update(history)                                 # the trained network's scales, zoomed in
    twin.set_visible(False)
    held = scales(view)
    view.update(history, tighten=False)                  # the display's budget is short: a zoom in waits ...
    assert scales(view) == held != scales(twin) and view.held
    changed = view.update(history, network.pictures(), traces[0])
    assert scales(view) == scales(twin) and not view.held           # ... for the next frame that may
    assert set(changed) == {ax for ax in view.axes if view.artists(ax)}
    assert view.ax_digit in changed and view.ax_probabilities in changed
    fig.savefig(tmp_path / f"inside-{step}.png")          # looked at: pytest --basetemp=DIR keeps them
    right, tested = history.right()
    accuracy = names["datavis"].test[1][-1]
    assert right == round(accuracy * tested) and f"{accuracy:.2%}" in view.confusion_title.get_text()
    m = history.latest[1]
    assert view.counts.texts == [str(m[r, c]) if m[r, c] or r == c else "" for r in range(10) for c in range(10)]
    made = artists(fig)
    for k in range(1, 6):                                 # new data every time: a test, weights, a digit
        history.add(history.latest[0] + k, history.latest[1])
        changed = view.update(history, network.pictures(), traces[k % len(traces)])
        assert {view.ax_confusion, view.ax_pictures, view.ax_digit} <= set(changed)
        fig.canvas.draw()
        assert artists(fig) == made
    assert view.update(history, None, None) == []           # nothing new: nothing to redraw


def test_the_views_cheap_frames_are_what_a_full_draw_shows(ran):
    """The view on the display core, its tests arriving one by one (the pairs' and the per-digit scales move,
    each a restage of its axes, with quick tick labels): every frame, pixel for pixel, what a full draw of the
    same state shows."""
    from visualiser import display
    names, *_ = ran("2.2")
    vis = names["datavis"]
    history = vis.inside.mistakes
    screen = display.agg_screen(vis)
    assert screen.key("i")
    snap = display.Snapshot(vis, STEPS["2.2"][0])
    assert screen.draw(snap, "x")[0] == "full"
    vis.inside.mistakes = arriving = mistakes.Mistakes()
    kinds = []
    for iteration, matrix in history.tests:
        arriving.add(iteration, matrix)
        kind, _ = screen.draw(snap, f"iteration {iteration}")
        kinds.append(kind)
        frame = screen.rgb()
        screen.fig.canvas.draw()
        assert np.array_equal(frame, screen.rgb()), (iteration, kind)
    vis.inside.mistakes = history
    assert "restage" in kinds, kinds


def test_digit_is_the_test_sets_own_pixels(mnist):
    import tensorflow.compat.v1 as tf
    with tf.Graph().as_default(), tf.Session() as sess:
        X = tf.placeholder(tf.float32, [None, 28, 28, 1])
        Y, Y_ = tf.placeholder(tf.float32, [None, 10]), tf.placeholder(tf.float32, [None, 10])
        labels = mnist.test.labels.argmax(1)
        computed = np.where(np.arange(10000) % 7 == 0, (labels + 1) % 10, labels)   # mistakes on every 7th
        fetched = sess.run(tensorflowvisu.tf_format_mnist_images(X, Y, Y_, 1000, lines=25),
                           {X: mnist.test.images, Y: np.eye(10)[computed], Y_: mnist.test.labels})
    expected = np.zeros((10, 10), int)
    np.add.at(expected, (labels, computed), 1)
    assert np.array_equal(fetched["confusion"], expected)
    first = mistakes.test_digit(fetched, 0)
    assert first.label != first.computed and first.label == labels[0] and first.computed == computed[0]
    assert np.array_equal(first.pixels, mnist.test.images[0, :, :, 0])       # bit for bit
    assert mistakes.test_digit(fetched, 1000).k == 0 and mistakes.test_digit(None) is None


def test_where_a_part_does_not_apply_the_data_says_so():
    import tensorflow.compat.v1 as tf
    assert inside.find(lambda i, t, u: None).notes["trace"] == "no tf.Session among training_step's globals"
    with tf.Graph().as_default():
        X = tf.placeholder(tf.float32, [None, 784])
        scale = tf.placeholder(tf.float32, [None, 1])          # fed to the model, but with which test value?
        W = tf.Variable(tf.zeros([784, 10]))
        Y = tf.nn.softmax(tf.matmul(X * scale, W))
        sess = tf.Session()
        names = {"sess": sess, "W": W, "X": X, "Y": Y}
        step = eval("lambda i, test, train: None", names)       # a training_step whose globals hold the session
        network = inside.find(step)
        assert network.outline().pictures == (10, 28, 28) and "W [784, 10]" in network.pictures_label
        assert "Placeholder_1" in network.notes["trace"] and network.trace(None) is None
        sess.close()
    with tf.Graph().as_default():
        X = tf.placeholder(tf.float32, [None, 28, 28, 1])
        Y = tf.reduce_sum(X, [1, 2])                             # no weights, no softmax
        sess = tf.Session()
        network = inside.find(eval("lambda i, test, train: None", {"sess": sess}))
        assert network.pictures() is None and network.trace(None) is None
        assert "no weight variable" in network.notes["pictures"] and "no softmax" in network.notes["trace"]
        sess.close()


def test_a_trace_draws_no_random_numbers():
    """Dropout's mask is fed, not drawn: the training's masks are the same whether the view traces or not."""
    import tensorflow.compat.v1 as tf
    with tf.Graph().as_default() as graph:
        tf.set_random_seed(0)
        X, pkeep = tf.placeholder(tf.float32, [None, 28, 28, 1]), tf.placeholder(tf.float32)
        W1, W2 = tf.Variable(tf.ones([784, 20]) / 784), tf.Variable(tf.ones([20, 10]))
        Y1 = tf.nn.dropout(tf.nn.relu(tf.matmul(tf.reshape(X, [-1, 784]), W1)), rate=1 - pkeep)
        tf.nn.softmax(tf.matmul(Y1, W2))
        mask = next(op for op in graph.get_operations() if op.type == "RandomUniform").outputs[0]
        training = {X: np.ones((3, 28, 28, 1)), pkeep: 0.75}
        draws = []
        for traces in (0, 3):
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                network = inside.find(eval("lambda i, test, train: None", {"sess": sess}))
                for _ in range(traces):
                    assert network.trace(mistakes.Digit(np.ones((28, 28)), 1, 1, 0)).activations[0].shape == (20,)
                draws.append(sess.run(mask, training))
    assert np.array_equal(draws[0], draws[1])


def test_mistakes_keep_every_test_and_name_the_confused_pairs():
    history = mistakes.Mistakes()
    assert history.latest is None and history.pairs()[0] == []
    for t, n in enumerate([30, 20, 10]):
        m = np.diag(np.full(10, 1000 - n - 3))
        m[4, 9], m[7, 2], m[3, 5] = n, 3, 1          # 4 read as 9 the most, then 7 as 2
        history.add(t * 100, m)
    pairs, iterations, counts = history.pairs(2)
    assert pairs == [(4, 9), (7, 2)] and list(iterations) == [0, 100, 200]
    assert counts.tolist() == [[30, 3], [20, 3], [10, 3]]
    assert history.right() == (10 * 987, 10 * 987 + 14) and history.per_digit()[4] == 987 / 997
    for t in range(3, mistakes.HISTORY + 5):
        history.add(t * 100, np.eye(10, dtype=int))
    assert len(history.tests) <= mistakes.HISTORY and history.tests[0][0] == 0 and history.tests[-1][0] == \
        (mistakes.HISTORY + 4) * 100
    assert history.version == mistakes.HISTORY + 5


def test_the_view_pieces():
    assert inside_view.grid(10, (28, 28), (100, 250)) == (2, 5)
    assert inside_view.grid(24, (28, 28), (100, 100)) == (5, 5)
    m = inside_view.mosaic(np.arange(3 * 4).reshape(3, 2, 2).astype(np.float32), 2, 2)
    assert m.shape == (5, 5) and m[0, 0] == 0 and m[0, 3] == 4 and np.isnan(m[2]).all() and np.isnan(m[3:, 3:]).all()
    assert np.abs(inside_view.signed_unit(np.array([[[2.0, -4.0]], [[0.0, 0.0]]]))).max(axis=(1, 2)).tolist() == \
        [1.0, 0.0]
    assert inside_view.coarse_top(None, [37]) == 50 and inside_view.coarse_top(50, [20]) == 50
    assert inside_view.coarse_top(50, [12]) == 20 and inside_view.coarse_top(20, [21]) == 50


def test_ten_bars_in_one_collection_are_the_pixels_of_ax_bar():
    """The view's bars (the accuracy per digit across, the probabilities up, coloured at each trace) are one
    PolyCollection each: the pixels of ax.barh's and ax.bar's ten patches with set_width/set_height/set_color."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rng = np.random.default_rng(3)
    values, colours = rng.random(10) * 1.1, [("C0", "C3", "0.7")[k % 3] for k in range(10)]

    def picture(collection, across):
        fig = Figure(figsize=(2, 2), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_axes([0.1, 0.1, 0.8, 0.8])
        ax.set(xlim=(0.3, 1), ylim=(9.5, -0.5)) if across else ax.set(xlim=(-0.6, 9.6), ylim=(0, 1))
        thickness = 0.8 if across else 0.75
        if collection:
            bars = inside_view.bars(ax, thickness, "C1", across=across)
            inside_view.set_bars(bars, values, None if across else colours, across=across)
        else:
            patches = ax.barh(range(10), np.zeros(10), color="C1", height=thickness) if across else \
                ax.bar(range(10), np.zeros(10), color="C1", width=thickness)
            for patch, v, c in zip(patches, values, colours):
                patch.set_width(v) if across else (patch.set_height(v), patch.set_color(c))
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).copy()

    for across in (False, True):
        mine = picture(True, across)
        assert len(np.unique(mine.reshape(-1, 4), axis=0)) > 4                    # bars of several colours drawn
        assert np.array_equal(mine, picture(False, across))


@pytest.mark.parametrize("args, says", [(["--steps", "9.9"], "--steps: 9.9 is not one of the course's steps"),
                                        (["--steps", "5.0"], "--steps: 5.0 is not one"),
                                        (["--iterations", "0"], "--iterations must be at least 1"),
                                        (["--rounds", "-1"], "--rounds must be at least 1")])
def test_the_cost_benchmark_refuses_a_bad_flag_in_one_line(args, says):
    r = run_script("benchmarks/inside_cost.py", *args, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and says in r.stderr.strip().splitlines()[-1], r.stderr
