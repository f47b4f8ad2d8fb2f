"""Search spaces for `mnistlab tune`: a small TOML file naming Recipe fields with ranges.

    [lr_max]                # a float field: low/high, optional log and step
    low = 0.001
    high = 0.01
    log = true
    [channels]              # a tuple field: one range per element (here three conv depths) ...
    low = [4, 8, 12]
    high = [24, 48, 64]
    [dense]                 # ... or any field: a list of choices
    choices = [100, 200]

Every table names a field of Recipe (`mnistlab train --help` lists them); a file with an unknown field or
key, a wrong type, or a range that gives an invalid recipe is refused with a message before any training.
Pure Python: the CLI parses and checks a space without importing torch or optuna.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

# The course's search (its cloud version tuned conv depths and the decay constant, 53 trials, and found
# 15/38/64 channels reaching 99.5% in 2,000 steps): depths, peak lr, decay constant T and dropout of 3.0/3.1.
DEFAULT_SPACE = """\
[channels]      # the three conv depths (3.0: 4, 8, 12; 3.1: 6, 12, 24; the course's search found 15, 38, 64)
low = [4, 8, 12]
high = [24, 48, 64]

[lr_max]        # peak learning rate of Adam (the course: 0.003)
low = 0.001
high = 0.01
log = true

[lr_decay_steps]  # T in lr = lr_min + lr_max * exp(-step / T) (the course: 2,000)
low = 500
high = 5000
log = true

[dropout]       # drop probability after the dense layer (the course: keep 0.75 = 0.25)
low = 0.0
high = 0.5
"""

_KEYS = {"low", "high", "log", "step", "choices"}


class SpaceError(ValueError):
    """The search space cannot be used; the message says where and what to do."""


@dataclass(frozen=True)
class Param:
    field: str
    type: str                       # the Recipe field's type: int | float | str | tuple[int, ...]
    low: object = None              # number, or a list for a tuple field
    high: object = None
    log: bool = False
    step: float | int | None = None
    choices: tuple | None = None    # tuples for a tuple field

    def values_to_check(self) -> list:
        """Values whose recipes must be valid: the ends of a range (both ends of each element), or every choice."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]

    def suggest(self, trial):
        """This parameter's value for an Optuna trial (a tuple element per Optuna parameter `name.i`)."""
        if self.choices is not None:
            if self.type.startswith("tuple"):  # Optuna stores categorical values as scalars: "15,38,64"
                picked = trial.suggest_categorical(self.field, [",".join(map(str, c)) for c in self.choices])
                return tuple(int(v) for v in picked.split(","))
            return trial.suggest_categorical(self.field, list(self.choices))
        if self.type.startswith("tuple"):
            return tuple(trial.suggest_int(f"{self.field}.{i}", lo, hi, log=self.log, step=self.step or 1)
                         for i, (lo, hi) in enumerate(zip(self.low, self.high)))
        if self.type == "int":
            return trial.suggest_int(self.field, self.low, self.high, log=self.log, step=self.step or 1)
        return trial.suggest_float(self.field, self.low, self.high, log=self.log, step=self.step)


def _fail(source: str, name: str, message: str):
    raise SpaceError(f"{source}: [{name}] {message}")


def _number(v, integer: bool) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) if integer else \
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _param(source: str, name: str, table, ftype: str) -> Param:
    if not isinstance(table, dict):
        _fail(source, name, f"must be a table (`[{name}]` then low = ..., high = ... or choices = [...]), "
                            f"got {table!r}")
    unknown = set(table) - _KEYS
    if unknown:
        _fail(source, name, f"unknown key {', '.join(sorted(unknown))}; use low, high, log, step or choices")
    tuple_field, integer = ftype.startswith("tuple"), ftype in ("int",) or ftype.startswith("tuple")
    if "choices" in table:
        if set(table) - {"choices"}:
            _fail(source, name, "choices cannot be combined with low/high/log/step")
        choices = table["choices"]
        if not isinstance(choices, list) or not choices:
            _fail(source, name, "choices must be a non-empty list")
        ok = {"str": lambda c: isinstance(c, str), "int": lambda c: _number(c, True),
              "float": lambda c: _number(c, False)}.get(
            ftype, lambda c: isinstance(c, list) and c and all(_number(v, True) for v in c))
        bad = [c for c in choices if not ok(c)]
        if bad:
            want = "lists of whole numbers" if tuple_field else f"{ftype} values"
            _fail(source, name, f"choices must be {want}, got {bad[0]!r}")
        conv = tuple if tuple_field else (float if ftype == "float" else (lambda c: c))
        return Param(name, ftype, choices=tuple(conv(c) for c in choices))
    if ftype == "str":
        _fail(source, name, "is a text field: give choices = [\"...\", ...]")
    if "low" not in table or "high" not in table:
        _fail(source, name, "needs low and high (or choices)")
    low, high, log, step = table["low"], table["high"], table.get("log", False), table.get("step")
    if not isinstance(log, bool):
        _fail(source, name, f"log must be true or false, got {log!r}")
    if step is not None and (not _number(step, integer) or step <= 0):
        _fail(source, name, f"step must be a positive {'whole number' if integer else 'number'}, got {step!r}")
    if step is not None and log:
        _fail(source, name, "log and step cannot be combined")
    lows, highs = (low, high) if tuple_field else ([low], [high])
    if tuple_field and not (isinstance(low, list) and isinstance(high, list) and len(low) == len(high) > 0):
        _fail(source, name, "low and high must be lists of the same length, one range per element "
                            "(e.g. low = [4, 8, 12], high = [24, 48, 64])")
    for lo, hi in zip(lows, highs):
        if not (_number(lo, integer) and _number(hi, integer)):
            _fail(source, name, f"low and high must be {'whole numbers' if integer else 'numbers'}, got {lo!r}, {hi!r}")
        if lo > hi:
            _fail(source, name, f"low {lo} is above high {hi}")
        if log and lo <= 0:
            _fail(source, name, f"log = true needs low > 0, got {lo}")
    if ftype == "float":
        low, high = float(low), float(high)
    return Param(name, ftype, low, high, log, step)


def parse_space(text: str, source: str = "search space") -> list[Param]:
    """Params from TOML text, checked against Recipe's fields; SpaceError on any problem."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise SpaceError("reading a search space on Python 3.10 needs tomli: pip install 'mnistlab[tune]'") from None
    from .cli import _FIXED
    from .recipes import Recipe
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpaceError(f"{source}: not valid TOML ({e})") from None
    types = {f.name: str(f.type) for f in dataclasses.fields(Recipe) if f.name not in _FIXED}
    if not doc:
        raise SpaceError(f"{source}: names no field to search; add a table such as [lr_max] low = 0.001, high = 0.01")
    params = []
    for name, table in doc.items():
        if name not in types:
            raise SpaceError(f"{source}: [{name}] is not a recipe field; fields are: {', '.join(types)}")
        params.append(_param(source, name, table, types[name]))
    return params


def load_space(path: str | Path | None) -> tuple[list[Param], str]:
    """(params, the TOML text) of a file, or of DEFAULT_SPACE when path is None."""
    if path is None:
        return parse_space(DEFAULT_SPACE, "the default space"), DEFAULT_SPACE
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise SpaceError(f"--space {path}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    return parse_space(text, str(path)), text


def check_against(params: list[Param], recipe, source: str = "search space") -> None:
    """Every end of every range (and every choice) must give a valid recipe: a range that would make a
    trial fail (dropout 1.0, 4 channels for 3 kernels) is refused before any training."""
    for p in params:
        for value in p.values_to_check():
            value = tuple(value) if isinstance(value, list) else value
            problems = recipe.replace(**{p.field: value}).problems()
            if problems:
                raise SpaceError(f"{source}: [{p.field}] value {value!r} gives an invalid {recipe.name} recipe: "
                                 + "; ".join(problems))
