"""The course, step by step: its steps, what each changes and why, what to watch, the diff, and the run.

    python3 course.py                      # the steps, with the course's figure and ours
    python3 course.py 2.2                  # the lesson of step 2.2: what it changes from 2.1 and why,
                                           #   what to watch in the panels, the diff of the two scripts
    python3 course.py 2.2 --run            # run it (any script flag may follow: --iterations 300 --text),
                                           #   then compare its result with step 2.1's recorded one
    python3 course.py 2.2 --exercise       # write my_2.2.py: step 2.1's script, the task marked in it
    python3 course.py check my_2.2.py      # your network against step 2.2's, then a short run diagnosed
    python3 course.py tour | walk | notes  # the panels and keys; step 1.0 line by line; where the scripts
                                           #   differ from the course's text

This module is also where the rest of the repository learns about the steps: steps() finds them (every
mnist_<step>_*.py at the top: a new step needs only its script, and a lesson here), figures() reads what the
course reports for each (data/course.json), and parse_run() reads the lines every step prints (the tests,
the benchmarks and this file all parse a run through it). No figure is typed here: ours come from
benchmarks/results/ladder.json, which `python3 benchmarks/ladder.py` writes. The exercises, the check and the
explanations live in tutor/ (tutor/__init__.py lists its parts). Standard library only.
"""
import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import textwrap

from tutor.commands import COMMANDS
from tutor.tasks import EXERCISES
from visualiser.runloop import TRAINED_LINE

ROOT = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "ladder.json")
FIGURES = os.path.join(ROOT, "data", "course.json")

# The lines every step prints, as the course's scripts print them (training_step prints the first two, the
# script's last line the third; tensorflowvisu prints TRAINED_LINE). "nan" and "1.8e+12" are losses too.
TRAIN_LINE = re.compile(r"^(\d+): accuracy:(\S+) loss: (\S+?)(?: \(lr:(\S+)\))?$", re.M)
TEST_LINE = re.compile(r"^(\d+): \*+ epoch (\d+) \*+ test accuracy:(\S+) test loss: (\S+)$", re.M)
MAX_LINE = re.compile(r"^max test accuracy: (\S+)$", re.M)
# 5.1 states its result as the test after its last step, chosen by no test ("final test accuracy: A (...)")
FINAL_LINE = re.compile(r"^final test accuracy: (\S+)", re.M)


def parse_run(text):
    """A step's printed output -> {"train": [(i, accuracy, loss)], "test": [(i, accuracy, loss)],
    "epochs": [the epoch of each test line], "trained": (iterations, seconds, seconds per 100) or None,
    "max": the last line's max test accuracy or None, "final": 5.1's final test accuracy or None}."""
    trained, best, final = TRAINED_LINE.search(text), MAX_LINE.search(text), FINAL_LINE.search(text)
    tests = TEST_LINE.findall(text)
    return {"train": [(int(i), float(a), float(c)) for i, a, c, _ in TRAIN_LINE.findall(text)],
            "test": [(int(i), float(a), float(c)) for i, _, a, c in tests],
            "epochs": [int(e) for _, e, _, _ in tests],
            "trained": trained and (int(trained.group(1).replace(",", "")), float(trained.group(2)),
                                    float(trained.group(3))),
            "max": best and float(best.group(1)), "final": final and float(final.group(1))}


def steps():
    """{step: script} for every mnist_<step>_*.py here, in course order (1.0 ... 4.2, and any later ones)."""
    found = {}
    for name in os.listdir(ROOT):
        m = re.fullmatch(r"mnist_(\d+\.\d+)_.+\.py", name)
        if m:
            found[m.group(1)] = name
    return dict(sorted(found.items(), key=lambda kv: tuple(int(x) for x in kv[0].split("."))))


def figures():
    """{step: {"reports": what the course reports (None past the course), ...}} from data/course.json."""
    with open(FIGURES) as f:
        return json.load(f)["steps"]


# The look-inside view (visualiser's): a key in the window swaps it in for the six panels. The lessons it is
# about say where to look.
INSIDE = "Press I in the window (0 or ESC: back to the six panels)."

# Lessons in our words. "against": the step whose script this one is best read against (the one before,
# except where the course goes back to an earlier network and adds one idea to it).
LESSONS = {
    "1.0": dict(
        title="one layer of softmax",
        changes="The whole model is one matrix multiplication: each of the 10 outputs is a weighted sum of the "
                "784 pixels plus a bias, and softmax turns the 10 sums into probabilities. The loss is the "
                "cross-entropy between those probabilities and the correct answer, and plain gradient descent "
                "nudges the weights down its slope, one batch of 100 digits at a time.",
        why="It is the smallest network that can learn at all, and everything after it is measured against it. "
            "One layer can only draw straight boundaries between the classes, which is why it stalls early.",
        watch="The accuracy panel climbs within a few hundred iterations, then flattens. The weights start at "
              "zero and spread out; the red rows of the test digits (the mistakes) shrink but never vanish."),
    "2.0": dict(
        title="five layers, sigmoid",
        changes="Four hidden layers (200, 100, 60 and 30 neurons) with a sigmoid between them go in front of "
                "the softmax. The weights start random rather than at zero, the optimiser becomes Adam, and the "
                "cross-entropy is computed from the logits with TensorFlow's fused function.",
        why="More layers can draw curved boundaries. Random weights break the symmetry: started at zero, every "
            "neuron of a layer would compute and learn the same thing. The fused cross-entropy never takes "
            "log(0), which step 1.0's formula does as soon as one probability underflows (a NaN loss).",
        watch="A slow start: the accuracy sits near chance for a while before it takes off, because the "
              "gradient fades through five sigmoids whose inputs are far from zero, where they are flat. "
              "Then it ends well above one layer."),
    "2.1": dict(
        title="ReLU and a decaying learning rate",
        changes="The sigmoids become ReLUs (max(0, x)), the biases start at 0.1 instead of 0, and the learning "
                "rate is fed at every step: it decays exponentially from its starting value to a floor.",
        why="A ReLU does not flatten for large inputs, so the gradient reaches the first layers and there is "
            "no slow start. Small positive biases make every ReLU active at first (a ReLU fed negative values "
            "outputs zero and learns nothing). A high rate learns fast early; a low one stops the late "
            "training from jumping around the minimum.",
        watch="No slow start. Late in the run the training curves go flat at the top (the training set is "
              "learned by heart) while the test loss turns upwards: the network is overfitting."),
    "2.2": dict(
        title="dropout",
        changes="A new placeholder pkeep, and dropout after each hidden layer: while training, each neuron is "
                "kept with probability pkeep and silenced otherwise; when testing, pkeep is 1 and all are used.",
        why="A network that cannot count on any one neuron spreads what it knows, a bit like training many "
            "thinned networks and averaging them. It is the cure for the rising test loss of step 2.1.",
        watch="The test loss no longer climbs late in the run. The accuracy barely moves: what holds it back is "
              "the network's shape, which sees an image as a flat line of pixels, and that is the next step.",
        inside="The confusion matrix: which digits are still wrong, and for which others they are taken, at "
               "the latest test: a row per true digit, a column per answer, the mistakes off the diagonal; "
               "beside it, each digit's own accuracy. Watch the few pairs that look alike hold out longest."),
    "3.0": dict(
        title="a convolutional network",
        changes="The first three layers become convolutions: small patches of weights slid over the image, "
                "each producing one channel, with strides that shrink the image from 28x28 to 14x14 to 7x7. "
                "A dense layer of 200 ReLUs and the softmax follow. The images stay 28x28x1 instead of being "
                "flattened, and there is no dropout.",
        why="The same patch is used at every position, so a stroke is recognised wherever it is, with far "
            "fewer weights than a dense layer needs; the layers build strokes into shapes.",
        watch="The accuracy passes every dense network early. Without dropout, the test loss creeps up again "
              "late in the run.",
        inside="The first layer's patches drawn as small pictures, enlarged: they start as noise; watch them "
               "turn into strokes and edges, the pieces the later layers build on. Pick a test digit to follow "
               "it through the layers, one feature map per channel, down to the ten probabilities."),
    "3.1": dict(
        title="a bigger convolutional network, with dropout",
        changes="More channels in each convolution, a larger first patch, and dropout on the dense layer.",
        why="More channels give the network room to learn more kinds of strokes; dropout keeps that room from "
            "being spent memorising the training set.",
        watch="The test accuracy is higher and steadier, and the gap between the training and the test loss "
              "stays small. Count the red rows of the test digits: very few mistakes are left."),
    "4.0": dict(
        title="batch normalisation, five sigmoid layers", against="2.0",
        changes="Back to step 2.0's network. Before each sigmoid, batch norm rescales every neuron's input over "
                "the batch to mean 0 and variance 1, then applies a learned scale and offset (the offsets take "
                "the biases' place). Testing uses moving averages of the training batches' statistics. The "
                "learning rate starts much higher and decays.",
        why="The sigmoids are kept in their steep middle, where the gradient flows, so step 2.0's slow start "
            "goes, and the network tolerates the higher learning rate.",
        watch="Set it beside step 2.0: no slow start, and the accuracy rises sooner. The biases panel now shows "
              "batch norm's offsets."),
    "4.1": dict(
        title="batch normalisation, five ReLU layers",
        changes="The sigmoids become ReLUs, and batch norm keeps only its offset: no learned scale.",
        why="A ReLU does not care about the scale of its input (the next layer's weights can absorb it), so a "
            "scale would be a parameter with nothing to do; the offsets start at 0.1, as ReLU biases do.",
        watch="Compare the start with step 4.0 and the end with step 2.1: the same network with and without "
              "batch norm."),
    "4.2": dict(
        title="batch normalisation in a convolutional network", against="3.1",
        changes="Step 3.1's network, wider (more channels in each convolution), with batch norm (offset only) "
                "before every ReLU and dropout on the dense layer.",
        why="Batch norm lets a larger convolutional network train quickly and stably; dropout still guards "
            "against memorising. This is the course's best network.",
        watch="The test accuracy climbs the highest of the course and stays there, with the fewest red digits. "
              "It is also the slowest step per iteration: try --iterations to see where it gets early."),
    "5.0": dict(
        title="past the course: a fast network", against="4.2",
        changes="The ideas of step 4.2 spent on speed: three small 3x3 convolutions, each pooled at once, then "
                "batch norm (TensorFlow's fused kernel) and ReLU; 4.2's dense layer, narrower (128 neurons, no "
                "dropout); digits cropped to the 24x24 pixels that hold their ink; one copy of the network per "
                "core, each on its share of the batch; SGD with Nesterov momentum on a one-cycle learning rate "
                "(up over the first third, down to zero at the end); label smoothing and a little weight decay; "
                "and about half an epoch of training, tested only twice, by a testing copy of the network "
                "(batch norm from its averages) rather than 4.2's switch inside one graph.",
        why="Per digit seen, a well-tuned small network learns as much as a big one, so the time goes where "
            "it buys accuracy: pooling before batch norm runs it on a quarter of the pixels, the crop drops "
            "pixels that are always blank, and the towers keep both cores busy instead of splitting each "
            "small operation over them. The one-cycle schedule travels fast and then settles, which is what "
            "lets so few steps reach the course's best figures.",
        watch="The test curve has two points only, halfway and at the end, and the last one, where the learning "
              "rate reaches zero, is the result. Compare the time it prints with step 4.2's: benchmarks/speed.py "
              "measures both side by side."),
    "5.1": dict(
        title="past the course: towards the record, with augmentation",
        changes="Step 5.0's convolutions twice as wide, with a second one in every stage and no dense layer "
                "before the softmax, trained for 21 epochs on digits that are shifted, turned and zoomed at random "
                "at every step, in the graph. "
                "The same towers, one per core, a longer one-cycle schedule, a test every 500 steps.",
        why="A bigger network can learn more, and augmented digits keep it from learning the training set by "
            "heart: it never sees the same image twice, so it has to learn what a seven looks like rather "
            "than these sixty thousand sevens. Labels are unchanged: a shifted seven is a seven.",
        watch="The training digits panel shows the digits as the network sees them, shifted, turned and "
              "zoomed. The test accuracy keeps creeping up long after step 5.0 would have stopped, and the red "
              "rows of the test digits nearly vanish: a few dozen mistakes out of ten thousand remain."),
}


def recorded(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f).get("steps", {})


def ours(row):
    if not row:
        return "not measured yet"
    return f"{row['max_accuracy']:.2%} (max, at {row['max_at']:,} of {row['iterations']:,})"


def best_by(row, iteration):
    """A recorded run's max test accuracy up to `iteration`, from its curve: a fair comparison for a short run."""
    seen = [a for i, a in row.get("curve", []) if i <= iteration]
    return max(seen) if seen else None


def against(step, order):
    lesson = LESSONS.get(step, {})
    if lesson.get("against"):
        return lesson["against"]
    keys = list(order)
    i = keys.index(step)
    return keys[i - 1] if i > 0 else None


def header_comment(script):
    """A step without a lesson here: the script's own opening comment."""
    lines = []
    for line in open(os.path.join(ROOT, script)):
        if not line.startswith("#"):
            break
        lines.append(line[1:].strip())
    return " ".join(lines)


def list_steps(order, course, results, results_path):
    rows = [("step", "script", "the course reports", "ours: max test accuracy")]
    rows += [(s, script, course.get(s, "-"), ours(results.get(s))) for s, script in order.items()]
    widths = [max(len(r[k]) for r in rows) for k in range(4)]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    where = os.path.relpath(results_path)
    print(f"\nours: {where}" + ("" if results else " (not there yet: python3 benchmarks/ladder.py measures them)"))
    print("a step's lesson: python3 course.py 1.0 (then 2.0, 2.1 ...); run it: python3 course.py 1.0 --run")
    print("do it yourself: python3 course.py 2.0 --exercise, edit my_2.0.py, python3 course.py check my_2.0.py")
    print("explained: python3 course.py tour (the panels, the keys), walk (step 1.0 line by line), notes (where "
          "the scripts differ from the course's text)")


def diff(old, new):
    a, b = (open(os.path.join(ROOT, s)).readlines() for s in (old, new))
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    for line in difflib.unified_diff(a, b, old, new, n=1):
        if color and line[:1] in "+-" and line[:3] not in ("+++", "---"):
            line = ("\033[32m" if line[0] == "+" else "\033[31m") + line.rstrip("\n") + "\033[0m\n"
        sys.stdout.write(line)


def lesson(step, order, course, results):
    script, prev = order[step], against(step, order)
    text = LESSONS.get(step)
    def wrap(label, body):
        print(textwrap.fill(body, 100, initial_indent=f"{label:<10}", subsequent_indent=" " * 10))
    print(f"Step {step}" + (f": {text['title']}" if text else "") + f"   ({script})\n")
    if text:
        wrap("Changes", text["changes"] + (f" (read against step {prev})" if prev else ""))
        wrap("Why", text["why"])
        wrap("Watch", text["watch"])
        if text.get("inside"):
            wrap("Inside", f"{INSIDE} {text['inside']}")
    else:
        wrap("About", header_comment(script) + " (no lesson of ours yet: this is the script's own header)")
    print()
    for s in filter(None, (prev, step)):
        reported = f"the course reports {course[s]}" if s in course else "not a step of the course"
        print(f"  step {s}: {reported}; ours {ours(results.get(s))}")
    if prev:
        print(f"\nWhat changes from step {prev} ({order[prev]}):\n")
        diff(order[prev], script)
    print(f"\nRun it:  python3 {script}     (--text: no window; --web: in a browser; --logdir runs: for "
          f"TensorBoard; --iterations N: a short run)\n    or:  python3 course.py {step} --run")
    if step in EXERCISES:
        print(f"Do it:   python3 course.py {step} --exercise   (then: python3 course.py check my_{step}.py)")
    keys = list(order)
    if keys.index(step) + 1 < len(keys):
        print(f"Next:    python3 course.py {keys[keys.index(step) + 1]}")


def run(step, order, results, script_args):
    script, prev = order[step], against(step, order)
    cmd = [sys.executable, os.path.join(ROOT, script), *script_args]
    print("$ " + " ".join(["python3", script, *script_args]), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    out = []
    for line in proc.stdout:
        sys.stdout.write(line)
        out.append(line)
    if proc.wait():
        raise SystemExit(f"course: {script} ended with exit code {proc.returncode}")
    tests = [(i, a) for i, a, _ in parse_run("".join(out))["test"]]
    if not tests:
        raise SystemExit(f"course: {script} printed no test line")
    last = tests[-1][0]
    best_i, best = max(tests, key=lambda t: (t[1], -t[0]))
    print(f"\nYour run of step {step}: max test accuracy {best:.2%} (at iteration {best_i:,}, of {last:,})")
    for s in filter(None, (prev, step)):
        row = results.get(s)
        if not row:
            print(f"  step {s}: not measured yet (python3 benchmarks/ladder.py --steps {s})")
            continue
        by = best_by(row, last)
        full = f"{row['max_accuracy']:.2%} over all its {row['iterations']:,} iterations"
        if by is not None and last < row["iterations"]:       # a short run: held against the same stretch
            print(f"  step {s} as recorded: {by:.2%} by iteration {last:,} ({full}): "
                  f"yours {100 * (best - by):+.2f} points")
        else:
            print(f"  step {s} as recorded: {full}: yours {100 * (best - row['max_accuracy']):+.2f} points")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    order = steps()
    titles = {s: t["title"] for s, t in LESSONS.items()}
    if argv and argv[0] in COMMANDS:
        from tutor import cli
        return cli.command(argv[0], argv[1:], order, against, titles, parse_run)
    p = argparse.ArgumentParser(description="The course, step by step: lessons, diffs, runs and figures, and each "
                                "step as an exercise you write and the course checks.",
                                epilog="commands:\n" + "\n".join(f"  {c}" for c in COMMANDS.values()),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", nargs="?", help="a step (1.0, 2.2, ...): its lesson, the diff, the command")
    p.add_argument("--run", action="store_true", help="run the step (flags after it go to the script), then "
                   "compare its result with the previous step's recorded one")
    p.add_argument("--exercise", action="store_true", help="write my_STEP.py in this folder: the previous step's "
                   "script with this step's task marked in it (steps " + ", ".join(EXERCISES) + ")")
    p.add_argument("--out", metavar="FILE", help="with --exercise: the file to write instead of my_STEP.py")
    p.add_argument("--force", action="store_true", help="with --exercise: replace the file if it exists (the old "
                   "one is kept as FILE.bak)")
    p.add_argument("--results", default=RESULTS, metavar="FILE",
                   help="recorded results (default: benchmarks/results/ladder.json)")
    args, script_args = p.parse_known_args(argv)
    if script_args and not args.run:
        p.error("unrecognized arguments: " + " ".join(script_args) + " (script flags go after --run)")
    if (args.out or args.force) and not args.exercise:
        p.error("--out and --force go with --exercise, e.g. python3 course.py 2.1 --exercise --out mine.py")
    results = recorded(args.results)
    course = {s: f['reports'] for s, f in figures().items() if f.get('reports')}
    if args.step is None:
        if args.run or args.exercise:
            p.error(f"--{'run' if args.run else 'exercise'} needs a step, e.g. python3 course.py 2.1 "
                    f"--{'run' if args.run else 'exercise'}")
        return list_steps(order, course, results, args.results)
    if args.step not in order:
        p.error(f"no step {args.step!r}; the steps: {', '.join(order)}; the commands: {', '.join(COMMANDS)}")
    if args.run and args.exercise:
        p.error("--run or --exercise, not both")
    if args.exercise:
        if args.step not in EXERCISES:
            p.error(f"step {args.step} has no exercise; the exercises: {', '.join(EXERCISES)}")
        from tutor import cli
        return cli.exercise_command(args.step, order, against, titles, args.out, args.force)
    if args.run:
        return run(args.step, order, results, script_args)
    lesson(args.step, order, course, results)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:                  # python3 course.py 3.0 | head
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
