"""Two graph summaries (tutor/graph.py) compared, and the differences worded for a learner: the layers and
their shapes, activations, starting values, convolutions, pooling, batch norm, dropout, the loss, the
optimiser, the learning rate and what training_step feeds. Standard library only.
"""
from tutor.tasks import WHY

ASPECTS = ("layers", "activations", "starting values", "convolutions", "pooling", "batch norm", "dropout", "loss",
           "optimiser", "learning rate", "feeds")


def shape(s):
    return "[" + ", ".join(str(d) for d in s) + "]" if s is not None else "?"


def names(items):
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def start(init):
    """A variable's starting values in words: "0", "0.1", "random (sd 0.088)"."""
    if not init:
        return "?"
    return f"{init['const']:g}" if "const" in init else f"random (sd {init['sd']:.1g})"


def same_start(a, b):
    if not a or not b:
        return a == b
    if "const" in a or "const" in b:
        return "const" in a and "const" in b and abs(a["const"] - b["const"]) <= 1e-6 + 1e-3 * abs(b["const"])
    return 0.5 <= a["sd"] / max(b["sd"], 1e-12) <= 2


def close(a, b):
    if a is None or b is None or isinstance(a, (bool, str, list)) or isinstance(b, (bool, str, list)):
        return a == b
    return abs(a - b) <= 1e-9 + 0.02 * abs(b)


def layer_word(layer):
    if layer["kind"] == "conv":
        h, w, _, out = layer["shape"]
        text = f"conv {h}x{w}->{out} stride {layer.get('stride')}"
    else:
        text = f"dense {layer['shape'][0]}->{layer['shape'][1]}"
    extras = [layer["activation"] or "linear"] + (["pool"] if layer["pool"] else []) + \
             (["batch norm"] if layer["batchnorm"] else []) + (["dropout"] if layer["dropout"] else [])
    return text + " " + "+".join(extras)


def network(s):
    """A summary in one line: the layers, the loss, the optimiser and the learning rate."""
    if not s["layers"]:
        return "no layers (no tf.Variable multiplied by tf.matmul or tf.nn.conv2d)"
    loss = s["loss"] and {"logits": "loss from the logits", "log(softmax)": "loss from log(softmax)"}.get(
        s["loss"]["kind"], "another loss")
    optimiser = s["optimiser"] and s["optimiser"]["name"] + (" (Nesterov)" if s["optimiser"]["nesterov"] else "")
    return "; ".join(filter(None, [", ".join(layer_word(x) for x in s["layers"]), loss, optimiser,
                                   rates(s) and "learning rate " + rates(s)]))


def rates(s):
    values = [p.get("lr") for p in s["feeds"].get("train", []) if p.get("ran")]
    if not values or any(v is None for v in values):
        return None
    if all(close(v, values[0]) for v in values):
        return f"{values[0]:.3g} (fixed)"
    return " -> ".join(f"{v:.3g}" for v in values)


def differences(mine, theirs):
    """[(aspect, what differs in words, WHY key or None)]: nothing when the two networks are the same."""
    out = []
    a, b = mine["layers"], theirs["layers"]
    if [x["kind"] for x in a] != [x["kind"] for x in b] or [x["shape"] for x in a] != [x["shape"] for x in b]:
        word = "matrices" if all(x["kind"] == "dense" for x in a + b) else "tensors"
        listed = lambda ls: names([f"{x['weights']} {shape(x['shape'])}" for x in ls]) if ls else "none"  # noqa: E731
        out.append(("layers", f"you have {len(a)} weight {word}, {listed(a)}; the step has {len(b)}: {listed(b)}",
                    None))
    if len(a) == len(b):
        out += per_layer(a, b)
    else:
        acts = lambda ls: sorted({x["activation"] or "none" for x in ls[:-1]})  # noqa: E731
        if acts(a) != acts(b):
            out.append(("activations", f"your hidden layers use {names(acts(a)) if a[:-1] else 'nothing'}; the "
                                       f"step's {names(acts(b))}", None))
    out += whole(mine, theirs)
    return out


def grouped(aspect, pairs, say, why=None):
    """One line per kind of difference: [(name, mine, theirs)] grouped by (mine, theirs)."""
    groups = {}
    for name, m, t in pairs:
        groups.setdefault((m, t), []).append(name)
    return [(aspect, say(names(ns), m, t), why) for (m, t), ns in groups.items()]


def per_layer(a, b):
    out = []
    pairs = [(x["weights"], x["activation"] or "none", y["activation"] or "none") for x, y in zip(a, b)
             if x["activation"] != y["activation"]]
    out += grouped("activations", pairs, lambda n, m, t: f"after {n}: yours {m}, the step's {t}",
                   "sigmoid" if any((m, t) == ("sigmoid", "ReLU") for _, m, t in pairs) else None)
    pairs = [(x["weights"], start(x["init"]), start(y["init"])) for x, y in zip(a, b)
             if not same_start(x["init"], y["init"])]
    out += grouped("starting values", pairs, lambda n, m, t: f"{n} start at {m}; the step's at {t}",
                   "init" if any(m == "0" for _, m, _ in pairs) else None)
    pairs = []
    for x, y in zip(a, b):
        if len(x["bias"]) != len(y["bias"]):
            out.append(("starting values", f"{x['weights']}'s layer has {len(x['bias']) or 'no'} bias; the step's has "
                                           f"{len(y['bias']) or 'none'}", None))
        for p, q in zip(x["bias"], y["bias"]):
            if not same_start(p["init"], q["init"]):
                pairs.append((p["name"], start(p["init"]), start(q["init"])))
        if bool(x["scale"]) != bool(y["scale"]):
            out.append(("batch norm", f"after {x['weights']}: batch norm {'with' if x['scale'] else 'without'} a "
                                      f"learned scale; the step's {'with' if y['scale'] else 'without'}", None))
    out += grouped("starting values", pairs, lambda n, m, t: f"{n} start at {m}; the step's at {t}",
                   "bias" if any(t == "0.1" for _, _, t in pairs) else None)
    convs = [(x, y) for x, y in zip(a, b) if x["kind"] == y["kind"] == "conv"]
    for key, why in (("stride", "stride"), ("padding", None)):
        pairs = [(x["weights"], x.get(key), y.get(key)) for x, y in convs if x.get(key) != y.get(key)]
        out += grouped("convolutions", pairs, lambda n, m, t, key=key: f"{n}: {key} {m}, the step's {t}", why)
    pairs = [(x["weights"], shape(x.get("output")), shape(y.get("output"))) for x, y in convs
             if x.get("output") != y.get("output") and x.get("stride") == y.get("stride")]
    out += grouped("convolutions", pairs, lambda n, m, t: f"{n} gives {m} per image, the step's {t}")
    for x, y in zip(a, b):
        if x["pool"] != y["pool"]:
            out.append(("pooling", f"after {x['weights']}: {x['pool'] or 'no pooling'}, the step's "
                                   f"{y['pool'] or 'none'}", None))
        if x["towers"] != y["towers"]:
            out.append(("layers", f"{x['weights']} is used in {x['towers']} tower(s), the step's in {y['towers']}",
                        None))
    if a and a[0]["input"] != b[0]["input"]:
        out.append(("layers", f"the first layer reads {shape(a[0]['input'])} per image, the step's "
                              f"{shape(b[0]['input'])}", None))
    for key, aspect, word in (("batchnorm", "batch norm", "batch norm"), ("dropout", "dropout", "dropout")):
        mine = [x["weights"] for x in a if x[key]]
        theirs = [y["weights"] for y in b if y[key]]
        if mine != theirs:
            out.append((aspect, f"{word} after {names(mine) if mine else 'no layer'} in yours; in the step after "
                                f"{names(theirs) if theirs else 'none'}", None))
    for x, y in zip(a, b):
        if x["dropout"] and y["dropout"] and x["dropout"]["after_activation"] != y["dropout"]["after_activation"]:
            out.append(("dropout", f"after {x['weights']}: your dropout comes "
                                   f"{'after' if x['dropout']['after_activation'] else 'before'} the activation, "
                                   f"the step's {'after' if y['dropout']['after_activation'] else 'before'}", None))
    return out


def whole(mine, theirs):
    out = []
    lm, lt = mine["loss"] or {}, theirs["loss"] or {}
    if lm.get("kind") != lt.get("kind"):
        out.append(("loss", f"your loss: {lm.get('kind', 'none (nothing is minimised)')}; the step's: from the "
                            f"{lt.get('kind')}", "log(softmax)" if lm.get("kind") == "log(softmax)" else None))
    for key, word in (("weight_decay", "weight decay (tf.nn.l2_loss)"), ("labels_changed", "label smoothing")):
        if lm and lt and lm.get(key) != lt.get(key):
            out.append(("loss", f"{word}: {'yes' if lm.get(key) else 'no'} in yours, "
                                f"{'yes' if lt.get(key) else 'no'} in the step", None))
    om, ot = mine["optimiser"] or {}, theirs["optimiser"] or {}
    if (om.get("name"), om.get("nesterov")) != (ot.get("name"), ot.get("nesterov")):
        out.append(("optimiser", f"yours: {om.get('name', 'none')}; the step's: {ot.get('name')}"
                                 + (" with Nesterov momentum" if ot.get("nesterov") else ""), None))
    if mine["averages"] != theirs["averages"] and theirs["averages"]:
        out.append(("batch norm", f"moving averages decaying at {names([str(v) for v in mine['averages']]) or 'none'}; "
                                  f"the step's at {names([str(v) for v in theirs['averages']])}", None))
    out += feeds(mine["feeds"], theirs["feeds"])
    return out


def feeds(mine, theirs):
    out = []
    for kind in ("train", "test"):
        for p in mine.get(kind, []):
            if not p.get("ran"):
                out.append(("feeds", f"training_step({p['i']}, ...) ran no sess.run when "
                                     f"{'training' if kind == 'train' else 'testing'}", None))
            elif p["unfed"]:
                out.append(("feeds", f"when {'training' if kind == 'train' else 'testing'} (iteration {p['i']}) "
                                     f"sess.run is not given {names(p['unfed'])}", "unfed"))
    out = list(dict.fromkeys(out))
    m = [p.get("lr") for p in mine.get("train", []) if p.get("ran")]
    t = [p.get("lr") for p in theirs.get("train", []) if p.get("ran")]
    if len(m) == len(t) and not all(close(x, y) for x, y in zip(m, t)):
        its = names([str(p["i"]) for p in theirs["train"]])
        decays = t and not all(close(v, t[0]) for v in t)
        fixed = m and None not in m and all(close(v, m[0]) for v in m)
        yours = ", ".join("?" if v is None else f"{v:.3g}" for v in m)
        steps = ", ".join(f"{v:.3g}" for v in t)
        out.append(("learning rate", f"yours at iterations {its}: {yours}; the step's: {steps}",
                    "decay" if decays and fixed else None))
    for role, label, why in (("keep", "dropout's keep probability", "keep_test"),
                             ("test_switch", "batch norm's test flag", "bn_test")):
        for kind, when in (("train", "training"), ("test", "testing")):
            x = next((p.get(role) for p in mine.get(kind, []) if p.get("ran")), None)
            y = next((p.get(role) for p in theirs.get(kind, []) if p.get("ran")), None)
            if y is not None and x is not None and not close(x, y):
                out.append(("feeds", f"{label} when {when}: yours {x}, the step's {y}",
                            why if kind == "test" else None))
    return out


def same(mine, theirs):
    return mine is not None and theirs is not None and not differences(mine, theirs)


def report(mine, theirs, step):
    """The check's answer about the network: [lines]."""
    found = differences(mine, theirs)
    lines = [f"yours:      {network(mine)}", f"step {step}: {network(theirs)}"]
    if not found:
        return lines + [f"Your network is step {step}'s: every layer, shape, activation, starting value, the loss, "
                        "the optimiser, the learning rate and the feeds match."]
    differing = list(dict.fromkeys(a for a, _, _ in found))
    used = {"convolutions": any(x["kind"] == "conv" for x in theirs["layers"]),
            "pooling": any(x["pool"] for x in theirs["layers"]),
            "batch norm": any(x["batchnorm"] for x in theirs["layers"]),
            "dropout": any(x["dropout"] for x in theirs["layers"])}
    matching = [a for a in ASPECTS if a not in differing and used.get(a, True)]
    if matching:
        lines.append("matches: " + ", ".join(matching))
    lines.append("differs:")
    said = set()
    for aspect, text, why in found:
        lines.append(f"  - {aspect}: {text}" + (f" ({WHY[why]})" if why and why not in said else ""))
        said.add(why)
    return lines
