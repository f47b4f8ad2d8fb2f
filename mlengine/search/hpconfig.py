"""The course's hyperparameter search specification, read and checked before any trial starts.

    trainingInput:
      args: ["--hp-iterations", "2000"]      # optional: flags every trial gets (gcloud's TrainingInput.args)
      hyperparameters:
        goal: MINIMIZE                        # or MAXIMIZE
        hyperparameterMetricTag: loss         # the job's test loss (or accuracy), reported at every checkpoint
        maxTrials: 53
        maxParallelTrials: 7                  # may exceed maxTrials: then all of them run at once
        params:
          - parameterName: hp-conv1           # the trainer's flag --hp-conv1 (trainer.task.TUNABLE)
            type: INTEGER                     # INTEGER, DOUBLE (minValue, maxValue, scaleType),
            minValue: 6                       # DISCRETE (discreteValues), CATEGORICAL (categoricalValues)
            maxValue: 18
            scaleType: UNIT_LINEAR_SCALE      # or UNIT_LOG_SCALE, UNIT_REVERSE_LOG_SCALE (both need min > 0)

Every refusal names the file and line at fault (YAML's node marks), so that a 53-trial search never starts
on a typo and fails an hour later.
"""
import yaml

from trainer.task import TUNABLE

TYPES = ("INTEGER", "DOUBLE", "DISCRETE", "CATEGORICAL")
SCALES = ("UNIT_LINEAR_SCALE", "UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
METRICS = {"loss": "test_loss", "accuracy": "test_accuracy"}  # the tag -> the job's metrics.json key
PARAM_KEYS = {"parameterName", "type", "minValue", "maxValue", "scaleType", "discreteValues",
              "categoricalValues"}
FLAGS = {name: kind for name, _, kind, _ in TUNABLE}


class SearchError(Exception):
    """The search cannot go on (a study, the storage): hptune says why, in one line."""


class ConfigError(SearchError):
    """A fault in the search spec, with its file and line."""


class Node:
    """A YAML value with the line it starts on: .value (dict of str -> Node, list of Node, or a scalar)."""

    def __init__(self, value, line):
        self.value, self.line = value, line


def _convert(node):
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        return Node({k.value: _convert(v) for k, v in node.value}, line)
    if isinstance(node, yaml.SequenceNode):
        return Node([_convert(v) for v in node.value], line)
    return Node(yaml.safe_load(yaml.serialize(node)), line)  # the scalar as safe_load types it


def read(path):
    """The search spec of a YAML file -> dict (see Spec fields below). ConfigError on any fault."""
    try:
        with open(path) as f:
            root = yaml.compose(f)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    return check(_convert(root) if root is not None else Node(None, 1), path)


def check(root, path):
    def fail(node, what):
        raise ConfigError(f"{path}:{node.line}: {what}")

    def mapping(node, where):
        if not isinstance(node.value, dict):
            fail(node, f"{where} must be a mapping")
        return node.value

    def need(parent, key, where):
        if key not in parent.value:
            fail(parent, f"{where} has no {key} (required)")
        return parent.value[key]

    top = mapping(root, "the file")
    if "trainingInput" not in top:
        fail(root, "no trainingInput: the search spec is trainingInput.hyperparameters")
    training = top["trainingInput"]
    mapping(training, "trainingInput")
    args = training.value.get("args", Node([], training.line))
    if not isinstance(args.value, list) or not all(isinstance(a.value, (str, int, float)) for a in args.value):
        fail(args, "trainingInput.args must be a list of flags, e.g. [\"--hp-iterations\", \"300\"]")
    hp = need(training, "hyperparameters", "trainingInput")
    mapping(hp, "trainingInput.hyperparameters")
    goal = need(hp, "goal", "hyperparameters")
    if goal.value not in ("MINIMIZE", "MAXIMIZE"):
        fail(goal, f"goal is {goal.value!r}: MINIMIZE or MAXIMIZE")
    tag = need(hp, "hyperparameterMetricTag", "hyperparameters")
    if tag.value not in METRICS:
        fail(tag, f"hyperparameterMetricTag is {tag.value!r}: the job reports {' and '.join(METRICS)} "
                  "(its test set's mean cross-entropy and accuracy)")
    counts = {}
    for key in ("maxTrials", "maxParallelTrials"):
        node = hp.value.get(key) if key == "maxParallelTrials" else need(hp, key, "hyperparameters")
        value = 1 if node is None else node.value
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            fail(node, f"{key} is {value!r}: a whole number >= 1")
        counts[key] = value
    params = need(hp, "params", "hyperparameters")
    if not isinstance(params.value, list) or not params.value:
        fail(params, "params must be a non-empty list of parameters")
    space, seen = [], set()
    for item in params.value:
        space.append(_param(item, fail, mapping, need, seen))
    fixed = [str(a.value) for a in args.value]
    flag = clash(fixed, seen)
    if flag:
        fail(args, f"trainingInput.args sets {flag}, which the search sets for every trial")
    return {"goal": goal.value, "metric": tag.value, "metric_key": METRICS[tag.value],
            "max_trials": counts["maxTrials"], "max_parallel": counts["maxParallelTrials"],
            "params": space, "args": fixed}


def clash(flags, names):
    """The first of flags (["--hp-conv1", "8", ...]) that the search sets itself (--job-dir, a searched
    parameter's name such as hp-conv1), or None."""
    for a in flags:
        flag = a.split("=", 1)[0]
        if flag == "--job-dir" or flag[2:] in names:
            return flag
    return None


def _param(item, fail, mapping, need, seen):
    fields = mapping(item, "each of params")
    unknown = sorted(set(fields) - PARAM_KEYS)
    if unknown:
        fail(fields[unknown[0]], f"unknown field {unknown[0]!r} (the fields: {', '.join(sorted(PARAM_KEYS))})")
    name_node = need(item, "parameterName", "this parameter")
    name = str(name_node.value)
    flag = name[3:] if name.startswith("hp-") else None
    if flag not in FLAGS:
        fail(name_node, f"parameterName {name!r}: the trainer has no flag --{name} (it tunes "
                        f"{', '.join('hp-' + f for f in FLAGS)})")
    if name in seen:
        fail(name_node, f"parameterName {name!r} is given twice")
    seen.add(name)
    kind_node = need(item, "type", f"parameter {name}")
    kind = kind_node.value
    if kind not in TYPES:
        fail(kind_node, f"type is {kind!r}: one of {', '.join(TYPES)}")
    whole = FLAGS[flag] is int
    p = {"name": name, "flag": "--" + name, "type": kind}
    if kind in ("INTEGER", "DOUBLE"):
        if kind == "DOUBLE" and whole:
            fail(kind_node, f"--{name} takes whole numbers: use INTEGER or DISCRETE")
        lo, hi = need(item, "minValue", f"parameter {name}"), need(item, "maxValue", f"parameter {name}")
        for node in (lo, hi):
            ok = isinstance(node.value, int) if kind == "INTEGER" else isinstance(node.value, (int, float))
            if not ok or isinstance(node.value, bool):
                fail(node, f"{name}: {node.value!r} is not {'a whole number' if kind == 'INTEGER' else 'a number'}")
        if lo.value > hi.value:
            fail(lo, f"{name}: minValue {lo.value} is above maxValue {hi.value}")
        scale_node = fields.get("scaleType", Node("UNIT_LINEAR_SCALE", item.line))
        if scale_node.value not in SCALES:
            fail(scale_node, f"scaleType is {scale_node.value!r}: one of {', '.join(SCALES)}")
        if scale_node.value != "UNIT_LINEAR_SCALE" and lo.value <= 0:
            fail(lo, f"{name}: {scale_node.value} needs minValue > 0, got {lo.value}")
        p.update(min=lo.value, max=hi.value, scale=scale_node.value)
    elif kind == "DISCRETE":
        values = need(item, "discreteValues", f"parameter {name}")
        if not isinstance(values.value, list) or not values.value or not all(
                isinstance(v.value, (int, float)) and not isinstance(v.value, bool) for v in values.value):
            fail(values, f"{name}: discreteValues must be a non-empty list of numbers")
        if whole and not all(float(v.value).is_integer() for v in values.value):
            fail(values, f"{name}: --{name} takes whole numbers")
        p["values"] = sorted({int(v.value) if whole else v.value for v in values.value})
    else:
        values = need(item, "categoricalValues", f"parameter {name}")
        if not isinstance(values.value, list) or not values.value:
            fail(values, f"{name}: categoricalValues must be a non-empty list")
        for v in values.value:
            try:
                FLAGS[flag](str(v.value))
            except ValueError:
                fail(v, f"{name}: {v.value!r} is not a value --{name} takes ({FLAGS[flag].__name__})")
        p["values"] = [str(v.value) for v in values.value]
    return p
