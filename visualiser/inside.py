"""Look inside: what the network learned, read from the graph a step script built, as plain data for the inside
view (visualiser/inside_view.py draws it; visualiser/mistakes.py keeps the test runs' confusion matrices and
picks their digits). No step script changes; nothing here adds an op to the graph.

    network = inside.find(compute_step)          # once: the script's session, found from training_step
    digit = mistakes.test_digit(vis.digits_fetched("test"), k)  # a digit of the last test (k=0: a mistake)
    pictures, trace = network.look(digit)        # the first layer as pictures, the digit's trace: one run

- The first layer: the first weight variable the images placeholder meets on its way to the softmax (the other
  operand of a MatMul or a Conv2D), read as pictures: [784, n] as n 28x28 images, [k, k, 1, n] as n k x k
  patches.
- A digit's trace: the tensors from the images to the softmax (to the testing copy's, where a step builds the
  network twice: 5.0, 5.1); a layer is the output of each activation (ReLU, sigmoid ...). The other placeholders
  they depend on are fed as a test feeds them, found by what they feed: a bool (into the conds of batch norm) is
  the test flag, True; a float scalar into dropout is the keep probability, 1.0; an integer is the iteration.
  Random numbers on the way (dropout's masks) are fed zeros, not drawn, so a trace leaves the training's random
  sequence as it was.
Where a part does not apply (no hidden layer in step 1.0, a graph without a softmax ...), `notes` says why and
that part is None: never an exception.
"""
import dataclasses

import numpy as np

ACTIVATIONS = {"Relu", "Relu6", "Sigmoid", "Tanh", "Elu", "Selu", "LeakyRelu", "Softplus", "Softsign"}
WEIGHTED = {"MatMul", "Conv2D"}
READS = {"Identity", "ReadVariableOp", "Enter", "Switch"}      # between a variable and its use
VARIABLE_OPS = {"VariableV2", "VarHandleOp", "Variable"}
BATCH_NORM = {"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3", "Rsqrt"}   # Rsqrt: tf.nn.batch_normalization
RANDOM = {"RandomUniform", "RandomStandardNormal", "TruncatedNormal", "RandomUniformInt", "RandomGamma"}
# pictures shown at most: 100 of 28x28 fill the view's corner at about one screen pixel per weight (200, the
# dense steps' W1, at half that are noise-sized); the first ones, so that each keeps its place as it trains
MOST_PICTURES = 100
ITERATION = "iteration"   # a feed whose value is the iteration asked for


@dataclasses.dataclass(frozen=True)
class Layer:
    """One layer of a digit's trace: `shape` of one digit's activations, (h, w, maps) or (n,); `label` says
    what makes it, e.g. "conv 5x5 stride 2, batch norm, ReLU"."""
    name: str
    shape: tuple
    label: str

    @property
    def kind(self):
        return "conv" if len(self.shape) == 3 else "dense"


@dataclasses.dataclass(frozen=True)
class Outline:
    """What the view will show, fixed for a run: the view lays itself out from it once."""
    pictures: tuple = None         # (n, h, w) of the first layer's pictures, or None
    pictures_label: str = ""       # e.g. "W1 [6, 6, 1, 6]: 6 patches 6x6"
    pictures_are_classes: bool = False    # one picture per digit: the first layer is the last (step 1.0)
    layers: tuple = ()             # Layer, from the input to the last hidden layer
    notes: dict = dataclasses.field(default_factory=dict)     # "pictures", "trace": why not, or a remark


@dataclasses.dataclass(frozen=True, eq=False)
class Trace:
    """A digit (a mistakes.Digit) through the network: one array per layer of the outline ((h, w, maps) or (n,)),
    the ten probabilities, and the class they give (now: the network may have moved since the test)."""
    digit: object
    activations: tuple
    probabilities: np.ndarray
    computed: int


def find(compute_step):
    """The Network of the session a step's training_step uses: the tf.Session among its globals (a script's
    `sess`) or its closure. Why there: animate() receives training_step, whose globals are the script's, so
    no script changes; the default session is None (the scripts use no `with`), and scanning every live object
    for sessions would be slow and could find another graph's. Never raises: a Network without a session says
    why in its notes."""
    import tensorflow.compat.v1 as tf
    names = dict(getattr(compute_step, "__globals__", None) or {})
    cells = getattr(compute_step, "__closure__", None) or ()
    candidates = []
    for value in list(names.values()) + [c.cell_contents for c in cells if _filled(c)]:
        if isinstance(value, (tf.Session, tf.InteractiveSession)) and value not in candidates:
            candidates.append(value)
    with_images = [s for s in candidates if _images_placeholder(s.graph) is not None]
    if not with_images:
        why = "no tf.Session among training_step's globals" if not candidates else \
            "no placeholder of 28x28 images in the session's graph"
        return Network(None, names, why)
    return Network(with_images[0], names)


def _filled(cell):
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False


def _trains_batch_norm(op):
    """A fused batch norm normalising by its batch's own statistics (is_training=True)."""
    return op.type.startswith("FusedBatchNorm") and op.get_attr("is_training")


def _images_placeholder(graph):
    """The placeholder the digits are fed through: float, 784 values per row ([None, 28, 28, 1] or [None, 784])."""
    for op in graph.get_operations():
        if op.type == "Placeholder" and op.outputs[0].dtype.is_floating:
            shape = op.outputs[0].shape
            if shape.rank in (2, 4) and shape[1:].is_fully_defined() and shape[1:].num_elements() == 784:
                return op
    return None


def _consumers(op):
    return [c for t in op.outputs for c in t.consumers()]


def _closure(starts, step):
    seen, todo = set(starts), list(starts)
    while todo:
        for nxt in step(todo.pop()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _inputs_first(graph, ops):
    """`ops` in an order where every op comes after its inputs among them (creation order is not: a cond adds
    its switches after the branch that uses them), ties in creation order."""
    rank = {op: k for k, op in enumerate(graph.get_operations())}
    done, order = set(), []
    for root in sorted(ops, key=rank.get):
        stack = [(root, False)]
        while stack:
            op, expanded = stack.pop()
            if op in done:
                continue
            if expanded:
                done.add(op)
                order.append(op)
                continue
            stack.append((op, True))
            ins = sorted({t.op for t in op.inputs if t.op in ops and t.op not in done}, key=rank.get, reverse=True)
            stack.extend((i, False) for i in ins)
    return order


def _variable_of(tensor, downstream):
    """The variable op a weight operand is read from (through Identity/ReadVariableOp/cond switches), or None
    when the operand depends on the images (the data operand) or is computed."""
    op = tensor.op
    while op not in downstream:
        if op.type in VARIABLE_OPS:
            return op
        if op.type not in READS or not op.inputs:
            return None
        op = op.inputs[0].op
    return None


class Network:
    """A step's graph, read once: the images placeholder, the first layer, the chain of layers to the softmax
    and the test feeds. Reading it takes tens of milliseconds and adds nothing to the graph; pictures() and
    trace() run the session (thread-safe: the display's thread may call them while the training runs)."""

    def __init__(self, session, names=None, why=None):
        self.session = session
        self.notes = {}
        self.images = self.probabilities = self.weight = None
        self.copies = 1                   # the images go through `copies` towers sharing weights (5.0)
        self._chain, self.layers, self.feeds = [], (), {}
        self.pictures_label, self.picture_count = "", 0
        if session is None:
            self.notes = {"pictures": why, "trace": why}
            return
        self._read(session.graph, names or {})

    # -- reading the graph ---------------------------------------------------------------------------------
    def _read(self, graph, names):
        x = _images_placeholder(graph)
        self.images = x.outputs[0]
        downstream = _closure([x], _consumers)
        heads = [op for op in graph.get_operations() if op.type == "Softmax" and op in downstream
                 and not op.name.startswith("gradients")]
        if not heads:
            self.notes["trace"] = "no softmax computed from the images: nothing to trace"
            path = downstream
        else:
            closures = [_closure([h], lambda op: [t.op for t in op.inputs] + list(op.control_inputs)) for h in heads]
            # a network built twice over the same weights (5.0: a training copy, a testing copy): the testing
            # one, whose batch norm uses the averages, as a test sees the digit
            k = min(range(len(heads)), key=lambda k: any(_trains_batch_norm(op) for op in closures[k]))
            self.probabilities, upstream = heads[k].outputs[0], closures[k]
            path = downstream & upstream
        order = _inputs_first(graph, path)
        self._first_layer(order, downstream, names)
        if self.probabilities is not None:
            self._layers(order, x)
            self._test_feeds(upstream, x)
            self._no_random_draws(order)

    def _first_layer(self, order, downstream, names):
        for op in order:
            if op.type in WEIGHTED:
                weights = [t for t in op.inputs if _variable_of(t, downstream) is not None]
                if weights:
                    self.weight = weights[0]
                    break
        if self.weight is None:
            self.notes["pictures"] = "no weight variable multiplies the images: no first layer to show"
            return
        variable = _variable_of(self.weight, downstream)
        self.copies = sum(1 for op in order if op.type in WEIGHTED and self.weight in list(op.inputs))
        from tensorflow import Variable            # the base of v1's RefVariable and of ResourceVariable
        name = next((k for k, v in names.items() if isinstance(v, Variable) and v.op is variable and
                     not k.startswith("_")), variable.name)      # the script's own name for it (W1), else the op's
        shape = self.weight.shape.as_list()
        shown = _picture_shape(shape)
        if shown is None:
            self.notes["pictures"] = f"the first layer's weights {name} {shape} are not pictures of the input"
            self.weight = None
            return
        n, h, w = shown
        what = f"{n} neurons" if len(shape) == 2 else f"{n} patches {h}x{w}"
        if n > MOST_PICTURES:
            what = f"{MOST_PICTURES} of its {n} neurons"
        self.pictures_label = f"{name} {shape}: {what}" + (f", {self.copies} towers share them"
                                                           if self.copies > 1 else "")
        self.picture_count = min(n, MOST_PICTURES)

    def _layers(self, order, x):
        """The chain of activations from the images to the softmax; with towers, the first tower's."""
        depth = {x: 0}
        for op in order:
            ins = [t.op for t in op.inputs if t.op in depth]
            if op is not x:
                depth[op] = max((depth[i] + (i.type in ACTIVATIONS) for i in ins), default=0)
        chain, previous = [], x
        for d in range(max(depth.values(), default=0) + 1):
            here = [op for op in order if op.type in ACTIVATIONS and depth.get(op) == d]
            for op in here:                   # the first one fed by the previous layer (the first tower)
                if previous in _closure([op], lambda o: [t.op for t in o.inputs]):
                    chain.append(op)
                    previous = op
                    break
        self._chain = chain
        bounds = [x] + chain + [self.probabilities.op]
        labels = [_describe(order, a, b) for a, b in zip(bounds, bounds[1:])]
        layers = []
        for op, (text, _) in zip(chain, labels):
            layers.append(Layer(op.name, tuple(op.outputs[0].shape.as_list()[1:]), text))
        for k, (_, names) in enumerate(labels[1:]):     # dropout after a layer is applied to its output
            if "dropout" in names and k < len(layers):
                layers[k] = dataclasses.replace(layers[k], label=layers[k].label + ", dropout")
        self.layers = tuple(layers)
        if not chain:
            self.notes["trace"] = ("one layer: the pixels go straight to the ten softmax neurons, their weights "
                                   "are the pictures")

    def _test_feeds(self, upstream, x):
        """Each placeholder the trace depends on, fed as a test run feeds it; one it cannot tell: no trace."""
        for op in upstream:
            if op.type != "Placeholder" or op is x:
                continue
            t = op.outputs[0]
            near = _closure([op], lambda o: _consumers(o) if o.type in ("Placeholder", "Sub", "Identity") else [])
            if t.dtype.is_bool:
                self.feeds[t] = True                   # the test flag: batch norm's averages, no augmentation
            elif t.dtype.is_floating and t.shape.rank in (None, 0) and any("dropout" in o.name for o in near):
                self.feeds[t] = 1.0                    # the keep probability: no dropout when testing
            elif t.dtype.is_integer and t.shape.rank in (None, 0):
                self.feeds[t] = ITERATION
            else:
                self.notes["trace"] = (f"the trace depends on placeholder {op.name} ({t.dtype.name} {t.shape}), "
                                       "whose test value cannot be told")
                self._chain, self.layers = [], ()
                self.probabilities = None
                return

    def _no_random_draws(self, order):
        """Feed zeros for the random numbers on the way (dropout's mask: 0 >= rate 0 keeps every neuron; an
        augmentation's, in the branch a test does not take): a trace then draws none, so a stateful random op's
        sequence, and with it the training's dropout masks, is the same whether the view is shown or not."""
        for op in order:
            if op.type in RANDOM and op.outputs[0].shape.rank is not None:
                t = op.outputs[0]
                shape = [self.copies if d is None else d for d in t.shape.as_list()]
                self.feeds[t] = np.zeros(shape, t.dtype.as_numpy_dtype)

    # -- what the view shows -----------------------------------------------------------------------------
    def outline(self):
        n = self.picture_count
        pictures = None
        if self.weight is not None:
            pictures = (n,) + _picture_shape(self.weight.shape.as_list())[1:]
        classes = pictures is not None and not self.layers and self.probabilities is not None and pictures[0] == 10
        label = self.pictures_label + (", one per digit" if classes else "")
        return Outline(pictures, label, classes, self.layers, dict(self.notes))

    def look(self, digit=None, iteration=0, weights=True):
        """(pictures, trace) in one session run: the first layer's weights as pictures, float32 [n, h, w] (n up to
        MOST_PICTURES), and `digit` (a mistakes.Digit) through the network as a test sees it. Either is None
        where it does not apply (notes says why) or is not asked for (digit None, weights False). One run,
        because a run made while the training runs waits for the training's ops (the session has one thread
        between ops)."""
        fetches, feed = {}, {}
        if weights and self.weight is not None:
            fetches["weights"] = self.weight
        if digit is not None and self.probabilities is not None:
            fetches["layers"] = [op.outputs[0] for op in self._chain]
            fetches["probabilities"] = self.probabilities
            shape = [d or 1 for d in self.images.shape.as_list()]
            feed = {self.images: np.repeat(np.asarray(digit.pixels, np.float32).reshape(shape), self.copies, 0)}
            feed.update({t: iteration if v is ITERATION else v for t, v in self.feeds.items()})
        values = self.session.run(fetches, feed) if fetches else {}
        pictures = trace = None
        if "weights" in values:
            w = values["weights"]
            w = w.T.reshape(w.shape[1], *_picture_shape(list(w.shape))[1:]) if w.ndim == 2 else \
                w.sum(2).transpose(2, 0, 1)                      # [k, k, 1, n] -> [n, k, k]
            pictures = np.ascontiguousarray(w[:MOST_PICTURES], np.float32)
        if "probabilities" in values:
            p = values["probabilities"][0]
            trace = Trace(digit, tuple(a[0] for a in values["layers"]), p, int(np.argmax(p)))
        return pictures, trace

    def pictures(self):
        """The first layer's weights as pictures (look()'s first half): one variable read."""
        return self.look()[0] if self.weight is not None else None

    def trace(self, digit, iteration=0):
        """`digit` through the network (look()'s second half): its layers' activations and the ten probabilities."""
        return self.look(digit, iteration, weights=False)[1] if self.probabilities is not None else None


def _picture_shape(shape):
    """(n, h, w) of the pictures a first layer's weights make: [h*w, n] with h*w a square, or [h, w, c, n]."""
    if len(shape) == 2:
        side = int(round(shape[0] ** 0.5))
        return (shape[1], side, side) if side * side == shape[0] else None
    if len(shape) == 4:
        return (shape[3], shape[0], shape[1])
    return None


def _describe(order, start, end):
    """What the ops from `start` (exclusive) to `end` (inclusive) do, in a few words, and their names."""
    on_path = set(order)
    after = _closure([start], lambda o: [c for c in _consumers(o) if c in on_path])
    before = _closure([end], lambda o: [t.op for t in o.inputs if t.op in after])
    ops = [op for op in order if op in before and op is not start]
    types = {op.type for op in ops}
    words = []
    for op in ops:
        if op.type == "Conv2D":
            k = op.inputs[1].shape.as_list()[:2]
            stride = op.get_attr("strides")[1]
            words.append(f"conv {k[0]}x{k[1]}" + (f" stride {stride}" if stride > 1 else ""))
        elif op.type == "MatMul":
            words.append(f"dense {op.outputs[0].shape.as_list()[-1]}")
        if words:
            break
    if types & {"MaxPool", "MaxPoolV2"}:
        words.append("max-pool")
    if types & BATCH_NORM:
        words.append("batch norm")
    if end.type in ACTIVATIONS:
        words.append({"Relu": "ReLU", "Sigmoid": "sigmoid", "Tanh": "tanh"}.get(end.type, end.type))
    return ", ".join(words), " ".join(op.name for op in ops)
