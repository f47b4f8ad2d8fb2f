"""An error in a learner's script as one line: their file, their line, and what it means.

The line is the innermost frame of the traceback that is in the learner's file (the error itself is often
raised deep inside TensorFlow). TensorFlow's messages name graph nodes ("MatMul_1", "Variable_2/read"); they
are translated to the script's own names (W2, Y1) from that frame's globals. Standard library only: the
graph's objects are recognised by their attributes, not their classes.
"""
import os
import re
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = re.compile(r"'\{\{node (\S+)\}\} = (\w+)\[.*?\]\(([^)]*)\)' with input shapes: (.*?)\.?$", re.S)
UNFED = re.compile(r"You must feed a value for placeholder tensor '([^']+)'")
LOGITS = re.compile(r"logits_size=\[(\d+),(\d+)\] labels_size=\[(\d+),(\d+)\]")
# the same fault met first at the accuracy's tf.equal of the computed and the correct digits (which op fails
# first depends on the order TensorFlow runs them in, which differs between machines)
COUNTS = re.compile(r"Incompatible shapes: \[(\d+)[^\]]*\] vs\. \[(\d+)[^\]]*\]")
MEANINGS = {   # what a plain Python error usually means in a step script
    "NameError": "a name used before it is defined (a typo, or a line that moved below its use)",
    "SyntaxError": "Python cannot read this line",
    "IndentationError": "the indentation does not match the lines around it",
    "AttributeError": "that object has no such attribute (check the spelling: tf.nn.relu, tf.nn.dropout ...)",
    "TypeError": "a function got arguments it does not take",
    "ModuleNotFoundError": "a module Python cannot find",
}


def learner_frame(exc, path):
    """(frame, line number) of the innermost traceback entry in the learner's file, or (None, None)."""
    found = (None, None)
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if os.path.abspath(frame.f_code.co_filename) == path:
            found = (frame, lineno)
    return found


def ours(exc, path):
    """Whether the error arose in the check's own code (tutor/) rather than in the learner's file: a tutor
    frame deeper in the traceback than the learner's last one."""
    files = [os.path.abspath(frame.f_code.co_filename) for frame, _ in traceback.walk_tb(exc.__traceback__)]
    last = max((k for k, f in enumerate(files) if f == path), default=-1)
    return any(os.path.dirname(f) == HERE for f in files[last + 1:])


def graph_names(frame):
    """{graph op name: the script's name} from a frame's globals (tf.Variable, Tensor, Operation)."""
    names = {}
    for name, value in (frame.f_globals.items() if frame else ()):
        op = getattr(value, "op", value)
        if not name.startswith("_") and hasattr(op, "type") and isinstance(getattr(op, "name", None), str):
            names.setdefault(op.name, name)
    return names


def node(name, names):
    """A graph node's script name: "Variable_2/read" -> "W2"; unknown ones as they are."""
    base = name.strip().split(":")[0]
    for candidate in (base, re.sub(r"/read$", "", base)):
        if candidate in names:
            return names[candidate]
    return base


def explain(exc, path):
    if ours(exc, path):
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return (f"the check could not read {os.path.basename(path)}: {type(exc).__name__}: {exc} (in "
                f"{os.path.basename(where.filename)}, line {where.lineno}: a fault of the check, not of your file)")
    frame, lineno = learner_frame(exc, path)
    if isinstance(exc, SyntaxError) and os.path.abspath(exc.filename or "") == path:
        lineno = exc.lineno
    where = os.path.basename(path) + (f", line {lineno}" if lineno else "")
    return f"{where}: {meaning(exc, graph_names(frame))}"


def meaning(exc, names):
    text = str(exc)
    kind = type(exc).__name__
    m = SHAPES.search(text)
    if m:
        _, op, inputs, shapes = m.groups()
        args = [node(n, names) for n in inputs.split(",")]
        dims = re.findall(r"\[[^\]]*\]", shapes)
        pairs = " and ".join(f"{a} {d.replace(',', ', ').replace('?', 'batch')}" for a, d in zip(args, dims))
        if op == "MatMul" and len(dims) == 2:
            return (f"the shapes do not fit: tf.matmul multiplies {pairs}; {args[1]}'s first dimension must "
                    f"equal {args[0]}'s last (the width of the layer before)")
        if op.startswith("Conv2D") and len(dims) == 2:
            return (f"the shapes do not fit: the convolution slides {args[1]} over {pairs.split(' and ')[0]}; "
                    f"its third dimension (input channels) must equal the image's last (its channels): {pairs}")
        return f"the shapes do not fit ({op}): {pairs}: {text.split(' for ')[0]}"
    m = UNFED.search(text)
    if m:
        what = node(m.group(1), names)
        return (f"sess.run needs a value for {what}, which this feed_dict does not give: add {what}: ... to it "
                f"(every placeholder the fetched values depend on must be fed)")
    grown = grown_batch(text)
    if grown:
        return (f"the network gives {grown[0]} answers for a batch of {grown[1]} digits: a reshape made more "
                f"rows than images (are the images shrunk as the step says, e.g. by the strides?)")
    if kind.endswith("Error") and "tensorflow" in type(exc).__module__:
        # the message itself, past TensorFlow's headings and the stack of where the node was defined
        first = next((line for line in text.splitlines() if line.strip() and "Graph execution error" not in line
                      and not line.startswith(("Detected at node", "Node: ", " ", "\t"))), text)
        return f"TensorFlow: {first.strip()}"
    if kind in MEANINGS:
        return f"{kind}: {text} ({MEANINGS[kind]})"
    return f"{kind}: {text}" if text else kind


def grown_batch(text):
    """(answers, digits) when TensorFlow's message says the network gave a whole multiple of the batch's rows
    (at the cross-entropy or at the accuracy's tf.equal), else None."""
    m = LOGITS.search(text)
    if m:
        return int(m.group(1)), int(m.group(3))
    m = COUNTS.search(text)
    answers, digits = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
    return (answers, digits) if answers > digits and answers % digits == 0 else None


def exit_message(exc, path):
    """A SystemExit from the learner's run (a bad data folder, a flag): its own message, or its status."""
    code = exc.code
    return f"{os.path.basename(path)}: {code}" if isinstance(code, str) else \
        f"{os.path.basename(path)} stopped with exit status {code}"
