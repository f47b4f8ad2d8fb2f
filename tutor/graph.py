"""A TensorFlow 1 graph read into a plain summary (JSON-ready dicts and lists), for `course.py check`.

Runs in the check's subprocess, the only place TensorFlow is imported. What it reads:
- the layers: every trainable variable that a MatMul or Conv2D multiplies by is a layer's weights, in the
  order the graph first uses them; a layer reaches to the next one's input, and the ops between the two
  (descendants of one, ancestors of the other) say what sits there: the bias or batch norm's offset (and
  scale), the activation, dropout (its ops live in tf.nn.dropout's "dropout" name scope), pooling;
- the loss the optimiser minimises (from logits, or a log of a softmax), the optimiser and its learning rate;
- what training_step feeds (probe.py records it without running anything): the learning rate at three
  iterations, dropout's keep probability when training and when testing, batch norm's test switch, and the
  placeholders a run needs that are not fed.
Names are the learner's own (W1, pkeep) where the script's globals give them, else TensorFlow's.
"""
import re

import numpy as np
import tensorflow.compat.v1 as tf

LAYER_OPS = {"MatMul": "dense", "Conv2D": "conv", "DepthwiseConv2dNative": "conv"}
ACTIVATIONS = {"Sigmoid": "sigmoid", "Relu": "ReLU", "Relu6": "ReLU6", "Tanh": "tanh", "Elu": "ELU",
               "Selu": "SELU", "LeakyRelu": "leaky ReLU", "Softplus": "softplus", "Softmax": "softmax"}
BATCHNORM_OPS = {"Rsqrt", "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"}
POOLS = {"MaxPool": "max", "MaxPoolV2": "max", "AvgPool": "average"}
VARIABLES = {"VariableV2", "VarHandleOp", "Variable"}
CROSS_ENTROPY = {"SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits"}
DROPOUT_SCOPE = re.compile(r"(^|/)dropout(_\d+)?/")
GRADIENTS = re.compile(r"^gradients(_\d+)?/")


def variable_of(tensor):
    """The variable op a tensor reads (through Identity / ReadVariableOp, or a tf.cond's Switch), or None."""
    op = tensor.op
    while op.type in ("Identity", "ReadVariableOp", "Switch") and op.inputs:
        op = op.inputs[0].op
    return op if op.type in VARIABLES else None


def ancestors(ops, control=False):
    """Every op the given ones depend on, themselves included (data inputs; control inputs too if asked)."""
    seen, todo = set(), list(ops)
    while todo:
        op = todo.pop()
        if op in seen:
            continue
        seen.add(op)
        todo.extend(t.op for t in op.inputs)
        if control:
            todo.extend(op.control_inputs)
    return seen


def descendants(op):
    """Every op fed, directly or not, by op's outputs (op itself excluded), the gradients left out."""
    seen, todo = set(), [c for t in op.outputs for c in t.consumers()]
    while todo:
        nxt = todo.pop()
        if nxt in seen or GRADIENTS.match(nxt.name):
            continue
        seen.add(nxt)
        todo.extend(c for t in nxt.outputs for c in t.consumers())
    return seen


def constant(tensor):
    value = tf.get_static_value(tensor)
    return None if value is None or np.ndim(value) else float(value)


def scalar(value):
    """A fed value as JSON: a number or a flag; an array as its shape."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if np.ndim(value) == 0:
        try:
            return float(value)
        except (TypeError, ValueError):
            return repr(value)
    return {"shape": list(np.shape(value))}


def initial_values(session, variables):
    """{variable op name: {"const": c} or {"sd": s}}: each trainable variable's starting values."""
    out = {}
    for v, value in zip(variables, session.run(variables)):
        flat = np.ravel(value)
        if flat.size and np.all(flat == flat[0]):
            out[v.op.name] = {"const": round(float(flat[0]), 6)}
        else:
            out[v.op.name] = {"sd": round(float(np.std(flat)), 4)}
    return out


def private_session(graph):
    """A session of the check's own on the script's graph, its variables initialised by their own
    initialisers: the script's session and its random state are left alone, and no op is added."""
    session = tf.Session(graph=graph)
    session.run([v.initializer for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)])
    return session


def evaluate(session, tensor, fed):
    """tensor's value under a probe's feed (its numbers only), or None if it needs more."""
    try:
        return round(float(session.run(tensor, {k: v for k, v in fed.items() if not isinstance(v, dict)})), 8)
    except Exception:  # whatever TensorFlow objects to, the value is unknown
        return None


class Reader:
    def __init__(self, graph, names):
        self.graph, self.names = graph, names
        self.order = {op: n for n, op in enumerate(graph.get_operations())}
        self.trainable = graph.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES)
        self.trainable_ops = {v.op for v in self.trainable}

    def name(self, op):
        return self.names.get(op.name, op.name)

    def sorted(self, ops):
        return sorted(ops, key=self.order.get)

    def layers(self, trained=None):
        """[(op, weights variable op, data input tensor, every op using these weights)], in graph order.
        trained: the ops the minimised loss depends on, if known; then a copy of the network built for testing
        alone (5.0's, over the same weights) is not counted among the uses (the towers)."""
        uses = {}
        for op in self.graph.get_operations():
            if op.type in LAYER_OPS and not GRADIENTS.match(op.name) and (trained is None or op in trained):
                for k, t in enumerate(op.inputs):
                    var = variable_of(t)
                    if var in self.trainable_ops:
                        uses.setdefault(var, []).append((op, op.inputs[1 - k]))
        found = [(ops[0][0], var, ops[0][1], [o for o, _ in ops]) for var, ops in uses.items()]
        return sorted(found, key=lambda f: self.order[f[0]])

    def placeholders(self, ops):
        return {op for op in ops if op.type in ("Placeholder", "PlaceholderWithDefault")}


def describe(graph, names, loss, optimiser, feeds):
    """The summary of a built graph. names: {op name: the script's name for it}; loss: the tensor minimised
    (None if nothing is); optimiser: {"class", "lr" (a number or a tensor), "nesterov"}; feeds: what
    training_step fed, {"train": [(i, {op name: value}, [fetched op names])], "test": [...]}, a feed None
    where the call ran nothing."""
    r = Reader(graph, names)
    found = r.layers(ancestors([loss.op]) if loss is not None else None)
    with private_session(graph) as session:
        init = initial_values(session, r.trainable)
        weight_ops = {var for _, var, _, _ in found}
        softmaxes = [op for op in graph.get_operations() if op.type == "Softmax"]
        layers, rates, switches = [], [], set()
        for k, (op, var, data, uses) in enumerate(found):
            later = descendants(op)
            if k + 1 < len(found):
                end = found[k + 1][2].op
            else:
                ends = [s for s in softmaxes if s in later]
                xents = [o for o in later if o.type in CROSS_ENTROPY]
                end = ends[0] if ends else xents[0].inputs[0].op if xents else loss.op if loss is not None else op
            between = later & ancestors([end])
            layers.append(layer(r, op, var, data, uses, between, init, weight_ops, rates))
            switches |= {p for o in between if o.type == "Switch" for p in r.placeholders(ancestors([o.inputs[1].op]))}
        return {"layers": layers, "loss": describe_loss(loss),
                "optimiser": describe_optimiser(r, optimiser),
                "averages": sorted({round(constant(op.outputs[0]), 6) for op in graph.get_operations()
                                    if re.search(r"ExponentialMovingAverage(_\d+)?/decay$", op.name)}),
                "feeds": describe_feeds(r, session, feeds, optimiser, rates, switches)}


def layer(r, op, var, data, uses, between, init, weight_ops, rates):
    out = {"kind": LAYER_OPS[op.type], "weights": r.name(var), "shape": var.outputs[0].shape.as_list(),
           "init": init.get(var.name), "towers": len(uses),
           "input": data.shape.as_list()[1:] if data.shape.rank else None}
    if out["kind"] == "conv":
        strides = op.get_attr("strides")
        out.update(stride=strides[1] if strides[1] == strides[2] else f"{strides[1]}x{strides[2]}",
                   padding=op.get_attr("padding").decode(), output=op.outputs[0].shape.as_list()[1:])
    ordered = r.sorted(between)
    acts = [o for o in ordered if o.type in ACTIVATIONS]
    out["activation"] = ACTIVATIONS[acts[0].type] if acts else None
    out["pool"] = [f"{POOLS[o.type]} {o.get_attr('ksize')[1]}x{o.get_attr('ksize')[2]}"
                   for o in ordered if o.type in POOLS] or None
    out["batchnorm"] = any(o.type in BATCHNORM_OPS for o in between)
    out["bias"], out["scale"] = [], []
    for o in ordered:
        for idx, t in enumerate(o.inputs):
            v = variable_of(t)
            if v in r.trainable_ops and v not in weight_ops:
                is_scale = (o.type == "Mul" and any(i.op.type == "Rsqrt" for i in o.inputs)) or \
                           (o.type.startswith("FusedBatchNorm") and idx == 1)
                entry = {"name": r.name(v), "shape": v.outputs[0].shape.as_list(), "init": init.get(v.name)}
                if entry not in out["scale" if is_scale else "bias"]:
                    out["scale" if is_scale else "bias"].append(entry)
    dropped = [o for o in between if DROPOUT_SCOPE.search(o.name)]
    out["dropout"] = None
    if dropped:
        rate = next((o.inputs[1] for o in r.sorted(dropped) if o.type == "GreaterEqual"), None)
        out["dropout"] = {"after_activation": bool(acts) and acts[0] in ancestors(dropped)}
        if rate is not None:
            rates.append(rate)
    return out


def describe_loss(loss):
    if loss is None:
        return None
    ops = ancestors([loss.op])
    log_softmax = any(op.type == "Log" and any(a.type == "Softmax" for a in ancestors([op])) for op in ops)
    xents = [op for op in ops if op.type in CROSS_ENTROPY]
    # label smoothing: the labels reach the cross-entropy through arithmetic, not only reshapes
    plumbing = {"Reshape", "StopGradient", "Identity", "Placeholder", "Const", "Shape", "Slice", "Pack", "ConcatV2",
                "Sub", "Rank", "Cast", "SplitV", "Split", "StridedSlice", "GatherV2", "Switch", "Merge"}
    smoothed = any({o.type for o in ancestors([x.inputs[1].op])} - plumbing for x in xents)
    return {"kind": "log(softmax)" if log_softmax else "logits" if xents else "other",
            "weight_decay": any(op.type == "L2Loss" for op in ops), "labels_changed": smoothed}


def describe_optimiser(r, optimiser):
    if not optimiser:
        return None
    lr = optimiser["lr"]
    return {"name": optimiser["class"].replace("Optimizer", ""), "nesterov": optimiser.get("nesterov"),
            "lr_fed": sorted(r.name(p) for p in r.placeholders(ancestors([lr.op]))) if hasattr(lr, "op") else []}


def describe_feeds(r, session, feeds, optimiser, rates, switches):
    """What training_step fed, as what it does: {"train": [{"i", "ran", "lr", "keep", "test_switch",
    "unfed"}], "test": [...]}; keep is dropout's keep probability (1 - rate) under that feed."""
    lr = optimiser and optimiser["lr"]
    by_name = {op.name: op for op in r.graph.get_operations()}
    out = {}
    for kind, probes in feeds.items():
        out[kind] = []
        for i, fed, fetched in probes:
            if fed is None:
                out[kind].append({"i": i, "ran": False})
                continue
            tensors = {by_name[n].outputs[0]: v for n, v in fed.items() if n in by_name}
            needed = r.placeholders(ancestors([by_name[n] for n in fetched if n in by_name], control=True))
            entry = {"i": i, "ran": True,
                     "unfed": sorted(r.name(p) for p in needed if p.name not in fed and p.type == "Placeholder")}
            if lr is not None:
                entry["lr"] = evaluate(session, lr, tensors) if hasattr(lr, "op") else float(lr)
            keeps = {None if v is None else round(1 - v, 6) for v in (evaluate(session, t, tensors) for t in rates)}
            if keeps:                                  # computed here: an op made for it would change the graph
                entry["keep"] = keeps.pop() if len(keeps) == 1 else sorted(keeps, key=str)
            flags = [fed[p.name] for p in switches if p.name in fed]
            if flags:
                entry["test_switch"] = flags[0]
            out[kind].append(entry)
    return out
