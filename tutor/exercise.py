"""The learner's exercise file: `course.py 2.1 --exercise` writes my_2.1.py, step 2.0's script with the task
of lesson 2.1 at its top and "# EXERCISE:" above every place that changes (tutor/tasks.py holds both).

Its first code line puts the repository on sys.path, so `python3 my_2.1.py` runs from the learner's own
folder; the check finds the step from the header's first line. for_step() is the command's work: the file
for a step, written whole or not at all. Standard library only.
"""
import os
import re
import shutil
import tempfile
import textwrap

from tutor.tasks import EXERCISES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FIRST_LINE = re.compile(r"^# Exercise (\d+\.\d+) of ")
MARK = "# EXERCISE: "
PATH_LINE = "import sys; sys.path.insert(0, {root!r})  # noqa: E702 -- the course's modules, from any folder"


def header(step, title, prev, task, name, root):
    lines = [f'# Exercise {step} of "TensorFlow and deep learning, without a PhD": {title}.',
             *textwrap.wrap(f"This is step {prev}'s script. {task}", 108, initial_indent="# ",
                            subsequent_indent="# ", break_long_words=False, break_on_hyphens=False),
             f'# The places to change are marked "{MARK.strip()}". The lesson and the diff you aim for: '
             f"python3 course.py {step}",
             f"# Check your work: python3 course.py check {name}        Run it: python3 {name}",
             PATH_LINE.format(root=root)]
    return "\n".join(lines) + "\n"


def places(lines, marks):
    """The index in `lines` before which each mark goes: above the first line (from the previous mark on)
    holding its anchor, below it for a mark whose third item is "below". A missing anchor is a ValueError:
    the marks no longer fit the script."""
    out, at = [], 0
    for anchor, _, *where in marks:
        found = next((k for k in range(at, len(lines)) if anchor in lines[k]), None)
        if found is None:
            raise ValueError(f"the exercise's mark {anchor!r} is not in the script (after line {at + 1})")
        at = found + (where == ["below"])
        out.append(at)
    return out


def body(script_text, marks):
    """The previous step's script without its opening comment, with "# EXERCISE: ..." at each mark's place."""
    lines = script_text.splitlines(keepends=True)
    start = next((k for k, line in enumerate(lines) if not line.startswith("#")), len(lines))
    lines, out, at = lines[start:], [], 0
    for place, (_, instruction, *_) in zip(places(lines, marks), marks):
        out += lines[at:place]
        indent = re.match(r"\s*", lines[min(place, len(lines) - 1)]).group()
        wrapped = textwrap.wrap(MARK + instruction, max(60, 110 - len(indent)), subsequent_indent="#   ",
                                break_long_words=False, break_on_hyphens=False)
        out += [indent + w + "\n" for w in wrapped]
        at = place
    return "".join(out + lines[at:])


def make(step, title, prev, prev_text, exercise, name, root):
    return header(step, title, prev, exercise["task"], name, root) + body(prev_text, exercise["marks"])


def under_header(exercise_text, script_text):
    """The exercise file's header (its comment and sys.path line) over a step script's code: the step's own
    solution, runnable where the exercise is (the tests and benchmarks/tutor_curves.py complete files so)."""
    head = exercise_text[:exercise_text.index("\n" + PATH_LINE.split("{")[0]) + 1]
    head += exercise_text[len(head):].split("\n", 1)[0] + "\n"
    return head + script_text[script_text.index("\nimport ") + 1:]


def step_of(path):
    """The step an exercise file is for: its first line, else its name (my_2.1.py); None if neither says."""
    try:
        with open(path, errors="replace") as f:
            first = f.readline()
    except OSError:
        first = ""
    m = FIRST_LINE.match(first) or re.search(r"(\d+\.\d+)", os.path.basename(path))
    return m.group(1) if m else None


def write(path, text, force=False):
    """Writes text to path whole or not at all (a temporary file renamed). An existing file is kept unless
    force, and then saved as path + ".bak" first. Returns what was done, in one line."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a folder: give a file name, e.g. --out {os.path.join(path, 'my.py')}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"the folder {folder} does not exist")
    backup = None
    if os.path.exists(path):
        if not force:
            raise FileExistsError(f"{path} exists already (your work?): nothing was written. --force replaces it "
                                  f"(keeping it as {os.path.basename(path)}.bak); --out FILE writes another file")
        backup = path + ".bak"
        shutil.copy2(path, backup)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".part")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return f"wrote {path}" + (f" (the file that was there is now {backup})" if backup else "")


def for_step(step, order, against, titles, out=None, force=False):
    """`course.py STEP --exercise`: my_STEP.py in the current folder (or out). Returns the lines to print."""
    if step not in EXERCISES:
        raise ValueError(f"step {step} has no exercise; the exercises: {', '.join(EXERCISES)}")
    prev = against(step, order)
    path = out or f"my_{step}.py"
    with open(os.path.join(ROOT, order[prev])) as f:
        text = make(step, titles.get(step, ""), prev, f.read(), EXERCISES[step], os.path.basename(path), ROOT)
    done = write(path, text, force)
    return [done + f": step {prev}'s script with the task of step {step} at its top and '# EXERCISE:' where it "
                   "changes.",
            f"Edit it, then:  python3 course.py check {path}     (run it: python3 {path})"]
