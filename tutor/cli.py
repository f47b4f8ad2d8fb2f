"""`course.py check FILE` and `course.py STEP --exercise`: the two commands of the exercises.

The check runs tutor/probe.py in a subprocess (the only one that imports TensorFlow): it builds the learner's
graph, reads it and the step's, and reports (course.py prints the comparison at once), then trains the
learner's network for the step's check length while this process watches the clock; the printed figures are
then diagnosed. Every failure is one line naming the learner's file; nothing of the learner's is written to.
Standard library only.
"""
import argparse
import difflib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time

from tutor import MARK, check, diagnose, exercise
from tutor.commands import COMMANDS
from tutor.tasks import EXERCISES

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CURVES = os.path.join(ROOT, "benchmarks", "results", "tutor_curves.json")
SIMILAR = 0.85           # a file whose code lines are this alike with a step's script is read against that step too
STARTUP = 300            # seconds TensorFlow's import may take on a busy machine before the learner's file starts
BUILD = 120              # seconds the learner's file may take to reach animate(), and the least the training gets
SLACK = 2                # the training may take this many times the step's recorded training time for its length


class CheckError(Exception):
    """Something that ends the check, said in one line."""


def positive(text):
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def parser():
    p = argparse.ArgumentParser(
        prog="course.py check", description="Check your exercise file: its network, read without training, "
        "against the step's, then a short run of it diagnosed (stuck near 10%%, NaN, noisy, overfitting) and "
        "compared with the step's recorded run.")
    p.add_argument("file", help="your script, e.g. my_2.1.py (python3 course.py 2.1 --exercise writes one)")
    p.add_argument("--step", help="the step it is for (default: its first line, else its name: my_2.1.py)")
    p.add_argument("--iterations", type=positive, metavar="N",
                   help="train N iterations (default: the step's check length, 201 to 1,001)")
    p.add_argument("--timeout", type=positive, metavar="S",
                   help=f"give up when the file builds its network for more than S seconds (default {BUILD}), or "
                        f"trains for more (default: {BUILD} s more than {SLACK} times the step's recorded run of "
                        "that length; never while --panels shows the window)")
    p.add_argument("--panels", action="store_true", help="train with the six panels (your script's window)")
    p.add_argument("--no-train", action="store_true", help="only compare the networks")
    p.add_argument("--show-run", action="store_true", help="print the run's lines as they come")
    return p


def code_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def readable(path):
    """The file's text, or a CheckError saying why it is not a Python script."""
    name = os.path.basename(path)
    if not os.path.exists(path):
        raise CheckError(f"{path}: no such file (python3 course.py 2.1 --exercise writes my_2.1.py)")
    if os.path.isdir(path):
        raise CheckError(f"{path} is a folder, not a script")
    try:
        with open(path, "rb") as f:
            data = f.read()
        text = data.decode("utf-8")
        compile(text, path, "exec")
    except (UnicodeDecodeError, ValueError):
        raise CheckError(f"{name} is not a Python script (it is not text: a picture, an archive, a binary?)") from None
    except SyntaxError as e:
        if not re.search(r"^(import \w|from [\w.]+ import )", text, re.M):
            raise CheckError(f"{name} is not a Python script: Python cannot read line {e.lineno} ({e.msg}), and "
                             "it imports nothing") from None
        raise CheckError(f"{name}, line {e.lineno}: {e.msg} (Python cannot read this line)") from None
    except OSError as e:
        raise CheckError(f"{path}: {e.strerror}") from None
    return text


def candidates(step, order, against, text):
    """The steps to read the file against: the step itself first, then the step before it, then the others
    whose scripts look like the file (so that another step's script is named), most alike first."""
    mine = code_lines(text)
    score = {s: difflib.SequenceMatcher(None, mine, code_lines(open(os.path.join(ROOT, f)).read()),
                                        autojunk=False).ratio() for s, f in order.items()}
    rest = sorted((s for s in order if s not in (step, against) and score[s] >= SIMILAR), key=lambda s: -score[s])
    return [s for s in [step, against] + rest if s]


class Child:
    """The probe subprocess, its events and its printed lines read by two threads."""

    def __init__(self, cmd, env):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     errors="replace", bufsize=1)
        self.events, self.lines, self.errors = queue.Queue(), [], []
        threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True).start()
        self.show = False

    def _read(self, stream, out):
        for line in stream:
            if out and line.startswith(MARK):
                self.events.put(json.loads(line[len(MARK):]))
            elif out:
                self.lines.append(line)
                if self.show:
                    sys.stdout.write(line)
            else:
                self.errors.append(line)
        if out:
            self.events.put({"event": "exit"})

    def next(self, deadline):
        """The next event, or None when the deadline passes first."""
        try:
            return self.events.get(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()            # the run ends cleanly (visualiser's SIGTERM handling)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def crash(self):
        """The last line the subprocess wrote to stderr (its own error), or its exit status."""
        last = [line.strip() for line in self.errors if line.strip()]
        if not last:
            return f"exit status {self.proc.wait()}"
        if "No module named 'tensorflow'" in last[-1]:
            return last[-1] + f" (this Python, {sys.executable}, has no TensorFlow: run course.py with the " \
                              "course's environment, . .venv/bin/activate)"
        return last[-1]


def run_check(args, order, against, titles, parse_run):
    """Returns the exit status: 0 the network and the run are the step's, 1 something differs."""
    path = os.path.abspath(args.file)
    name = os.path.basename(path)
    text = readable(path)
    step = args.step or exercise.step_of(path)
    if step not in order:
        raise CheckError(f"which step is {name} for? " + (f"there is no step {step}; " if step else "") +
                         f"give it: --step STEP (steps: {', '.join(order)})")
    iterations = args.iterations or EXERCISES.get(step, {}).get("iterations", 1000)
    prev = against(step, order)
    steps = candidates(step, order, prev, text)
    print(f"Checking {name} against step {step}" + (f" ({titles[step]})" if step in titles else "") + ": building "
          "its network without training it ...", flush=True)
    cmd = [sys.executable, os.path.join(HERE, "probe.py"), path, "--iterations", str(iterations)]
    cmd += [f"--step={s}={os.path.join(ROOT, order[s])}" for s in steps]
    cmd += ["--panels"] * args.panels + ["--no-train"] * args.no_train
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if not args.panels:
        env = {k: v for k, v in env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    child = Child(cmd, env)
    child.show = args.show_run
    try:
        return follow(child, args, step, prev, name, iterations, parse_run)
    finally:
        child.stop()


def recorded(step):
    """The step's reference runs (benchmarks/results/tutor_curves.json), or None."""
    if not os.path.exists(CURVES):
        return None
    with open(CURVES) as f:
        return json.load(f)["steps"].get(step)


def training_time(step, iterations):
    """Seconds the check's training may take: BUILD more than SLACK times what the step's seed-0 reference
    run took for as many iterations (on the machine that recorded it, often loaded: a convolutional step's
    601 iterations need minutes on 2 busy cores)."""
    reference = recorded(step)
    run = reference and reference["runs"].get("0")
    if not run:
        return BUILD * 5
    return round(BUILD + SLACK * run["training_s"] * iterations / reference["iterations"])


def follow(child, args, step, prev, name, iterations, parse_run):
    deadline, phase, built, status = time.monotonic() + STARTUP, "startup", None, 0
    build, train = args.timeout or BUILD, args.timeout or training_time(step, iterations)
    while True:
        event = child.next(deadline)
        if event is None:
            if phase == "startup":
                raise CheckError(f"TensorFlow did not start within {STARTUP} s: is the machine very busy?")
            if phase == "build":
                raise CheckError(f"{name} did not reach datavis.animate(...) within {build} s: does it loop "
                                 f"for ever before training? (--timeout S waits longer)")
            raise CheckError(f"{name} did not finish {iterations:,} iterations within {train} s of training "
                             f"(--timeout S waits longer, --iterations N trains fewer)")
        kind = event["event"]
        if kind == "ready":
            phase, deadline = "build", time.monotonic() + build
        elif kind == "error":
            raise CheckError(event["message"])
        elif kind == "built":
            built = event
            status = explain(event, step, prev, name)
            if not event["learner"]["layers"]:
                return 1
            phase = "train"
            deadline = None if args.panels else time.monotonic() + train
            if not args.no_train:
                how = "with the panels: close the window at the end" if args.panels else "--text"
                print(f"\nTraining {name} for {iterations:,} iterations ({how}) ...", flush=True)
        elif kind == "finished":
            if not event["animate"]:
                raise CheckError(f"{name} ran to its end without calling datavis.animate(...): there is no "
                                 f"network to check (a step script ends with datavis.animate(training_step, ...))")
        elif kind == "exit":
            if child.proc.wait():
                raise CheckError(f"{name} stopped{' while training' if built else ''}: {child.crash()}")
            break
    if args.no_train:
        return status
    return judge(parse_run("".join(child.lines)), step, built, iterations) or status


def explain(event, step, prev, name):
    """Prints the comparison of the networks; returns 1 if they differ."""
    learner, steps = event["learner"], event["steps"]
    if not learner["layers"]:
        print(f"{name} builds no network: no tf.Variable is multiplied by tf.matmul or tf.nn.conv2d before "
              f"datavis.animate(...).")
        return 1
    other = next((s for s, summary in steps.items() if s != step and check.same(learner, summary)), None)
    if other and other == prev:
        print(f"{name} still builds step {prev}'s network: nothing of lesson {step} is done yet.")
    elif other:
        print(f"{name} builds step {other}'s network, not step {step}'s (python3 course.py check {name} --step "
              f"{other} checks it as that).")
    print("\n".join(check.report(learner, steps[step], step)))
    if check.same(learner, steps[step]):
        return 0
    hint = EXERCISES.get(step, {}).get("hint")
    print(f"hint: {hint + '. ' if hint else ''}The lesson: python3 course.py {step}" +
          (f" (what changes from step {prev}, and the diff)" if prev else ""))
    return 1


def judge(run, step, built, iterations):
    """Prints the diagnoses of the run; returns 1 if one is a problem."""
    reference, missing = recorded(step), None
    if reference and reference["iterations"] != iterations and EXERCISES.get(step, {}).get("length_sets_schedule"):
        missing = (f"step {step}'s learning rate follows the run's length, so only a run of its recorded "
                   f"{reference['iterations']:,} iterations compares with it")
        reference = None
    found = diagnose.diagnose(run, reference, step, built["learner"], missing, built["steps"][step])
    print("\n".join(("  - " if problem else "  ") + line for problem, line in found))
    return int(any(problem for problem, _ in found))


def check_command(argv, order, against, titles, parse_run):
    args = parser().parse_args(argv)
    try:
        return run_check(args, order, against, titles, parse_run)
    except CheckError as e:
        print(f"course: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ncourse: the check was interrupted", file=sys.stderr)
        return 130


def command(name, argv, order, against, titles, parse_run):
    """The commands that are words rather than steps: check, tour, walk, notes. Returns the exit status."""
    from tutor import notes
    if name == "check":
        return check_command(argv, order, against, titles, parse_run)
    argparse.ArgumentParser(prog=f"course.py {name}", description=COMMANDS[name].split(": ", 1)[1]).parse_args(argv)
    {"tour": notes.tour, "walk": lambda: notes.walk(order["1.0"]), "notes": notes.notes}[name]()
    return 0


def exercise_command(step, order, against, titles, out=None, force=False):
    try:
        print("\n".join(exercise.for_step(step, order, against, titles, out, force)))
    except (OSError, ValueError) as e:
        print(f"course: {e}", file=sys.stderr)
        return 1
    return 0
