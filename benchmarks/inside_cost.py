"""What the look-inside view costs: the confusion matrix on every test run, and, while a step trains, the
first layer's read and one digit's trace run from another thread, and the view's drawing.

    python3 benchmarks/inside_cost.py                       # steps 1.0, 3.1 and 4.2
    python3 benchmarks/inside_cost.py --steps 3.1 --iterations 300     # any step of the course, 1.0 ... 4.2

Each step runs in this process (--text), as the view will see it: the network is found from training_step
when the training starts; a second thread then reads the first layer, traces the last test's first digit,
and does both in one run, every 0.25 s while the training thread runs (tf.Session.run is thread-safe). After
the run: the test run (accuracy, loss and the test panel's digits on the 10,000 test digits) with and without
the confusion matrix, interleaved, and the matrix's own op time from TensorFlow's trace; then the view made
on an Agg figure, updated and drawn in full. Figures: milliseconds, medians (and max) over the samples; the
machine line and the load before and after. Results in benchmarks/results/inside_cost.json.
"""
import argparse
import contextlib
import json
import os
import runpy
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ladder  # (script names, the repository's root on the path)
import course  # (the steps)
import machine  # (the machine line, printed first and stored with the result)
from visualiser import inside, inside_view, mistakes  # (numpy only at import: TensorFlow and matplotlib when used)

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "inside_cost.json")
ITERATIONS = {"1.0": 301, "3.1": 301, "4.2": 101}


@contextlib.contextmanager
def _patched(owner, name, value):
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


def run_step(step, iterations, at_start=None, at_test=None):
    """Run a step script in this process (--text --iterations N) on a graph of its own. at_start(vis, network)
    when its training starts; at_test(vis, network) right after each test run has stored its digits (the
    network as that test saw it). Returns (the script's globals, its Network, the Mistakes of every test)."""
    import tensorflow.compat.v1 as tf
    import tensorflowvisu
    vis_class, real_flags = tensorflowvisu.MnistDataVis, tensorflowvisu.flags
    animate, update = vis_class.animate, vis_class.update_image2
    seen = {"history": mistakes.Mistakes()}

    def animate_found(vis, compute_step, *args, **kwargs):
        seen["network"] = inside.find(compute_step)        # as the view finds it: from training_step
        if at_start:
            at_start(vis, seen["network"])
        return animate(vis, compute_step, *args, **kwargs)

    def update_seen(vis, im):
        update(vis, im)
        seen["history"].observe(vis)
        if at_test:
            at_test(vis, seen["network"])

    with contextlib.ExitStack() as patches:
        for owner, name, value in ((tensorflowvisu, "flags", lambda argv=None: real_flags(
                                        ["--text", "--iterations", str(iterations)])),
                                   (tensorflowvisu, "_FLAGS", tensorflowvisu._FLAGS),     # restored after
                                   (tensorflowvisu, "_FLAGS_ARGV", tensorflowvisu._FLAGS_ARGV),
                                   (vis_class, "animate", animate_found), (vis_class, "update_image2", update_seen)):
            patches.enter_context(_patched(owner, name, value))
        with tf.Graph().as_default():
            names = runpy.run_path(os.path.join(ladder.ROOT, ladder.script_for(step)), run_name="__main__")
    return names, seen["network"], seen["history"]


def ms(samples):
    return {"median": round(statistics.median(samples) * 1e3, 2), "max": round(max(samples) * 1e3, 2),
            "n": len(samples)} if samples else None


def reads(network, vis, times):
    """The first layer read, the last test's first digit traced, and both in one run (as a frame would)."""
    digit = mistakes.test_digit(vis.digits_fetched("test"), 0)
    for key, read in (("pictures", network.pictures), ("trace", lambda: network.trace(digit)),
                      ("both", lambda: network.look(digit))):
        if digit is not None or key == "pictures":
            start = time.perf_counter()
            read()
            times.setdefault(key, []).append(time.perf_counter() - start)


def while_training(step, iterations, every=0.25):
    """The reads every `every` s on a second thread while the step trains (they wait for the training's ops),
    then 20 times with nothing else running (their own cost), and the graph read as the view does once."""
    during, after, found = {}, {}, []
    stop = threading.Event()

    def sample(vis, network):
        while not stop.wait(every):
            reads(network, vis, during)

    def start(vis, network):
        threading.Thread(target=sample, args=(vis, network), daemon=True).start()

    started = time.perf_counter()
    names, network, history = run_step(step, iterations, at_start=start)
    seconds = time.perf_counter() - started
    stop.set()
    for _ in range(20):
        reads(network, names["datavis"], after)
    for _ in range(3):
        begin = time.perf_counter()
        inside.find(names["training_step"])
        found.append(time.perf_counter() - begin)
    return names, network, history, {"during": during, "after": after, "find": found}, seconds


def test_run_with_and_without_confusion(names, network, rounds):
    """The step's own test fetch (accuracy, loss, the test panel's digits) on the 10,000 test digits: wall
    seconds with the confusion matrix and without it, interleaved; and, from TensorFlow's own trace of `rounds`
    runs with it, the seconds its ops took against all the ops of the run (the share holds under load, where
    the wall difference drowns in noise)."""
    import tensorflow.compat.v1 as tf
    images = names["mnist"].test
    feed = {names["X"]: images.images, names["Y_"]: images.labels}
    feed.update({t: 0 if v is inside.ITERATION else v for t, v in network.feeds.items()})
    fetch = [names["accuracy"], names["cross_entropy"], names["It"]]
    without = fetch[:2] + [{k: v for k, v in names["It"].items() if k != "confusion"}]
    times = {"with": [], "without": []}
    names["sess"].run(fetch, feed)                                  # warm-up
    for _ in range(rounds):
        for key, f in (("with", fetch), ("without", without)):
            start = time.perf_counter()
            names["sess"].run(f, feed)
            times[key].append(time.perf_counter() - start)
    scope = names["It"]["confusion"].op.name.rsplit("/", 1)[0] + "/"      # the test image's: confusion_1/
    times["its ops"], times["all ops"] = [], []
    for _ in range(rounds):
        metadata = tf.RunMetadata()
        names["sess"].run(fetch, feed, options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE),
                          run_metadata=metadata)
        nodes = [n for d in metadata.step_stats.dev_stats for n in d.node_stats]
        times["its ops"].append(sum(n.all_end_rel_micros for n in nodes if n.node_name.startswith(scope)) / 1e6)
        times["all ops"].append(sum(n.all_end_rel_micros for n in nodes) / 1e6)
    return times


def drawing(network, history, names, rounds=5):
    """The view made once on an Agg figure, then updated with new data and drawn in full, `rounds` times."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fetched = names["datavis"].digits_fetched("test")
    fig = Figure(figsize=(12.8, 7.2), dpi=100)
    FigureCanvasAgg(fig)
    start = time.perf_counter()
    view = inside_view.InsideView(fig, [0.02, 0.03, 0.96, 0.9], network.outline())
    made = time.perf_counter() - start
    times = {"update": [], "draw": []}
    for k in range(rounds):
        history.add(history.latest[0] + 1, history.latest[1])
        digit = mistakes.test_digit(fetched, k)
        data = dict(mistakes=history, pictures=network.pictures(), trace=network.trace(digit))
        start = time.perf_counter()
        view.update(**data)
        times["update"].append(time.perf_counter() - start)
        start = time.perf_counter()
        fig.canvas.draw()
        times["draw"].append(time.perf_counter() - start)
    return made, times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", nargs="+", default=list(ITERATIONS), help="steps to measure (default: %(default)s)")
    parser.add_argument("--iterations", type=int, help="iterations of each step (default: 301, 4.2: 101)")
    parser.add_argument("--rounds", type=int, default=10, help="test runs with and without the matrix, each")
    args = parser.parse_args(argv)
    known = [step for step in course.steps() if step < "5"]    # 5.0 and 5.1 test in slices, not in one fetch
    for step in args.steps:
        if step not in known:
            parser.error(f"--steps: {step} is not one of the course's steps {', '.join(known)}")
    for flag in ("iterations", "rounds"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1")
    os.environ["MPLBACKEND"] = "Agg"
    record = machine.describe()
    print(machine.line(record), flush=True)
    results = {"machine": record, "steps": {}}
    for step in args.steps:
        iterations = args.iterations or ITERATIONS.get(step, 301)
        names, network, history, times, seconds = while_training(step, iterations)
        confusion = test_run_with_and_without_confusion(names, network, args.rounds)
        made, drawn = drawing(network, history, names)
        row = {"iterations": iterations, "seconds": round(seconds, 1), "load_after": os.getloadavg()[0],
               "while_training": {k: ms(v) for k, v in times["during"].items()},
               "alone": {k: ms(v) for k, v in times["after"].items()},
               "find": ms(times["find"]),
               "test_run": {k: ms(v) for k, v in confusion.items()},
               "view": {"make": round(made * 1e3, 1), **{k: ms(v) for k, v in drawn.items()}}}
        results["steps"][step] = row
        names["sess"].close()
        print(f"{step} ({iterations} iterations, load after {row['load_after']:.1f}), ms:\n"
              f"  reading the graph {row['find']}\n"
              f"  while training: first layer read {row['while_training']['pictures']}, "
              f"trace {row['while_training']['trace']}, both in one run {row['while_training']['both']}\n"
              f"  alone: first layer read {row['alone']['pictures']}, trace {row['alone']['trace']}, "
              f"both in one run {row['alone']['both']}\n"
              f"  test run with the confusion matrix {row['test_run']['with']}, without {row['test_run']['without']}; "
              f"its ops {row['test_run']['its ops']} of all ops {row['test_run']['all ops']}\n"
              f"  view: made in {row['view']['make']}, update {row['view']['update']}, "
              f"full Agg draw {row['view']['draw']}", flush=True)
    print(machine.line(record, {"load_after": os.getloadavg()[0]}), flush=True)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(results, f, indent=1)
    print(f"written: {os.path.relpath(RESULTS)}")


if __name__ == "__main__":
    main()
