"""The subprocess behind `course.py check`: runs a learner's script up to datavis.animate(...), reads its graph
(tutor.graph) and the course's step scripts' graphs the same way, reports them, then lets the script train.

    python3 tutor/probe.py my_2.1.py --iterations 1000 --step 2.1=mnist_2.1_...py --step 2.0=... [--panels]

It talks to course.py in lines on stdout that start with MARK, each one JSON event: "ready" (TensorFlow is
imported, the learner's file starts), "built" (the summaries: the learner's and each step's), "error" (one
line: the learner's file, its line and what went wrong), "finished" (the script ended; "animate": whether it
got that far). Every other line is the script's own printing, which course.py reads with parse_run. Nothing is
trained before "built": at animate() the graph is complete and only initialised, and what training_step
feeds is recorded by calling it with Session.run replaced (nothing runs, no batch is drawn).
"""
import argparse
import contextlib
import io
import json
import os
import runpy
import sys

if __name__ == "__main__":             # run as a file: the repository, not tutor/, is where imports start
    HERE = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or ".") == HERE:
        sys.path.pop(0)
    sys.path.insert(0, os.path.dirname(HERE))
from tutor import MARK, check, errors  # noqa: E402


def emit(event, **fields):
    sys.stdout.write(MARK + json.dumps(dict(fields, event=event)) + "\n")
    sys.stdout.flush()


class Reached(Exception):
    """A step script's probe got to its animate(): its graph is built."""


class Fed(Exception):
    """A probed Session.run: what it was asked to fetch and feed."""


class Stop(Exception):
    """--no-train: the check ends once the graphs are read."""


def op_name(key):
    if hasattr(key, "op"):
        return key.op.name
    if hasattr(key, "name"):
        return key.name
    return str(key).split(":")[0]


def fetched_names(fetches):
    if isinstance(fetches, (list, tuple)):
        return [n for f in fetches for n in fetched_names(f)]
    if isinstance(fetches, dict):
        return fetched_names(list(fetches.values()))
    return [] if fetches is None else [op_name(fetches)]


class Harness:
    def __init__(self, path, iterations, seed, steps, panels, train):
        self.path, self.iterations, self.seed, self.steps, self.train = path, iterations, seed, steps, train
        self.argv = [path, "--iterations", str(iterations), "--seed", str(seed)] + ([] if panels else ["--text"])
        self.current = path
        self.probing = False
        self.minimised = {}             # graph -> (optimiser, loss): the first minimize() in each graph
        self.reached = False
        self.phase = "build"

    def install(self):
        """Imports TensorFlow and the course's modules, and puts the harness's hooks into them."""
        import mnistdata
        import tensorflow.compat.v1 as tf
        import tensorflowvisu
        harness, original_animate = self, tensorflowvisu.MnistDataVis.animate
        self.tf, self.original_animate = tf, original_animate
        tensorflowvisu.MnistDataVis.animate = lambda vis, *a, **k: harness.animate(vis, *a, **k)
        read, cache = mnistdata.read_data_sets, {}

        def read_once(data_dir=None, one_hot=True, reshape=False, seed=0):    # every probed script reads it
            key = (data_dir, one_hot, reshape, seed)
            if key not in cache:
                cache[key] = read(data_dir, one_hot, reshape, seed)
            return cache[key]
        mnistdata.read_data_sets = read_once
        compute_gradients = tf.train.Optimizer.compute_gradients

        def recorded(optimiser, loss, *a, **k):
            harness.minimised.setdefault(tf.get_default_graph(), (optimiser, loss))
            return compute_gradients(optimiser, loss, *a, **k)
        tf.train.Optimizer.compute_gradients = recorded

    def script_globals(self):
        frame = sys._getframe(1)
        while frame and os.path.abspath(frame.f_code.co_filename) != self.current:
            frame = frame.f_back
        return frame.f_globals if frame else {}

    def animate(self, vis, compute_step, iterations, *a, **k):
        if self.probing:
            raise Reached(compute_step, self.script_globals())
        self.reached = True
        tf = self.tf
        learner = self.summarise(tf.get_default_graph(), self.script_globals(), compute_step)
        steps = {}
        for step, script in self.steps:      # the step checked against first, then the others until one is the same
            steps[step] = self.probe_step(script)
            if check.same(learner, steps[step]):
                break
        emit("built", learner=learner, steps=steps)
        if not self.train:
            raise Stop()
        sys.argv = list(self.argv)
        self.phase = "train"
        return self.original_animate(vis, compute_step, iterations, *a, **k)

    def probe_step(self, script):
        """A course step's summary, read the same way, in a graph of its own (its printing kept quiet)."""
        tf = self.tf
        sys.argv = [script, "--text", "--iterations", str(self.iterations), "--seed", str(self.seed)]
        self.probing, self.current = True, os.path.abspath(script)
        try:
            with tf.Graph().as_default() as graph, contextlib.redirect_stdout(io.StringIO()):
                try:
                    runpy.run_path(script, run_name="__main__")
                except Reached as r:
                    compute_step, found = r.args
                    return self.summarise(graph, found, compute_step)
        finally:
            self.probing, self.current = False, self.path
        return None

    def summarise(self, graph, found, compute_step):
        from tutor import graph as reading
        names = self.names(graph, found)
        optimiser, loss = self.minimised.get(graph, (None, None))
        about = optimiser and {"class": type(optimiser).__name__, "lr": getattr(optimiser, "_learning_rate",
                                                                             getattr(optimiser, "_lr", None)),
                               "nesterov": getattr(optimiser, "_use_nesterov", None)}
        return reading.describe(graph, names, loss, about, self.feeds(compute_step))

    def names(self, graph, found):
        """{op name: the script's name for it}, for the variables, placeholders and tensors it keeps."""
        tf, names = self.tf, {}
        for name, value in found.items():
            if isinstance(value, (tf.Variable, tf.Tensor)):
                op = value.op
            elif isinstance(value, tf.Operation):
                op = value
            else:
                continue
            if not name.startswith("_") and op.graph is graph:
                names.setdefault(op.name, name)
        return names

    def feeds(self, compute_step):
        """training_step called at the first, middle and last iteration of the check's run, and once as a
        test, with Session.run recording instead of running and next_batch drawing nothing."""
        import mnistdata
        from tensorflow.python.client import session
        from tutor.graph import scalar

        def record(sess, fetches, feed_dict=None, *a, **k):
            raise Fed(fetches, feed_dict)
        run, next_batch = session.BaseSession.run, mnistdata.DataSet.next_batch
        session.BaseSession.run = record
        mnistdata.DataSet.next_batch = lambda data, n: (data.images[:n], data.labels[:n])
        n, out = self.iterations, {"train": [], "test": []}
        try:
            for kind, i in (("train", 0), ("train", n // 2), ("train", n - 1), ("test", 0)):
                try:
                    compute_step(i, kind == "test", False)
                    out[kind].append((i, None, []))
                except Fed as f:
                    fetches, fed = f.args
                    out[kind].append((i, {op_name(k): scalar(v) for k, v in (fed or {}).items()},
                                      fetched_names(fetches)))
        finally:
            session.BaseSession.run, mnistdata.DataSet.next_batch = run, next_batch
        return out


def main(argv=None):
    p = argparse.ArgumentParser(description="The subprocess of course.py check (not for direct use).")
    p.add_argument("file")
    p.add_argument("--iterations", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--step", action="append", default=[], metavar="STEP=SCRIPT")
    p.add_argument("--panels", action="store_true")
    p.add_argument("--no-train", action="store_true")
    args = p.parse_args(argv)
    path = os.path.abspath(args.file)
    steps = [s.split("=", 1) for s in args.step]
    harness = Harness(path, args.iterations, args.seed, steps, args.panels, not args.no_train)
    harness.install()
    emit("ready")
    sys.argv = list(harness.argv)
    sys.path.insert(0, os.path.dirname(path))          # as `python3 my_2.1.py` would have it
    try:
        runpy.run_path(path, run_name="__main__")
    except Stop:
        pass
    except KeyboardInterrupt:                            # the check's timeout (SIGTERM) or Ctrl-C
        sys.exit(130)
    except SystemExit as e:
        if e.code not in (None, 0):
            emit("error", phase=harness.phase, message=errors.exit_message(e, path))
            sys.exit(1)
    except BaseException as e:  # whatever the learner's file raises becomes one line
        emit("error", phase=harness.phase, message=errors.explain(e, path))
        sys.exit(1)
    emit("finished", animate=harness.reached)


if __name__ == "__main__":
    main()
