"""Recipes: one frozen dataclass holds every knob of a training; each step of the course is an instance.

Command-line overrides are derived from the fields (`--lr-max 0.01 --channels 8,16,32`), so `--help` lists
every knob with the comment below as its unit. Learning rates are per batch-mean loss.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    name: str = "custom"                  # the recipe's short name
    step: str = ""                        # the course step it reproduces ("3.1"), "" for recipes beyond it
    title: str = ""                       # one line for `mnistlab list`
    course_accuracy: float = 0.0          # test accuracy the course reports (0..1), 0 if none
    # -- the network (models.py) --
    model: str = "softmax"                # registry name: softmax | dense | conv | bn_cnn
    hidden: tuple[int, ...] = ()          # dense: widths of the hidden layers
    activation: str = "relu"              # dense: sigmoid | relu
    channels: tuple[int, ...] = (4, 8, 12)  # conv: output channels of the three convolutions
    kernels: tuple[int, ...] = (5, 5, 4)  # conv: kernel sizes (pixels)
    strides: tuple[int, ...] = (1, 2, 2)  # conv: strides (28 -> 28 -> 14 -> 7)
    dense: int = 200                      # conv: width of the dense layer after the convolutions
    stage_convs: int = 1                  # bn_cnn: 3x3 convolutions per stage (one stage per channel count)
    batchnorm: str = "none"               # none | offset | scale_offset (batch norm before each activation)
    bn_decay: float = 0.999               # batch norm moving-average decay (PyTorch momentum = 1 - decay)
    dropout: float = 0.0                  # drop probability after hidden layers (the course's keep 0.75 = 0.25)
    bias_init: float = 0.0                # initial value of hidden biases (0.1 keeps ReLUs alive at step 0)
    # -- the optimisation (train.py) --
    optimizer: str = "adam"               # sgd | adam
    lr_max: float = 0.003                 # step size at step 0 (per batch-mean loss)
    lr_min: float = 0.0                   # the lr the schedule ends at: floor of the exp decay, end of the onecycle
    lr_decay_steps: float = 0.0           # exp schedule: T in lr = lr_min + lr_max * exp(-step / T); 0 = constant
    schedule: str = "exp"                 # exp (the course's) | onecycle: linear rise to lr_max, linear fall to lr_min
    warmup: float = 0.0                   # onecycle: fraction of the iterations spent rising to lr_max
    momentum: float = 0.0                 # sgd: Nesterov momentum (0 = the course's plain gradient descent)
    batch_size: int = 100                 # images per step
    iterations: int = 10000               # optimiser steps
    label_smoothing: float = 0.0          # cross-entropy label smoothing (0 = the course's plain loss)
    weight_decay: float = 0.0             # L2 penalty (decoupled for adam: AdamW)
    seed: int = 0                         # seeds init, batch order and dropout
    augment_shift: float = 0.0            # random translation of each training image, up to this many pixels
    augment_rotate: float = 0.0           # random rotation, up to this many degrees either way
    augment_scale: float = 0.0            # random zoom by a factor in [1 - s, 1 + s]
    # -- speed (results change only by float rounding) --
    channels_last: bool = False           # conv nets: NHWC memory layout for the convolutions
    bf16: bool = True                     # on CUDA only: bfloat16 autocast for forward and loss
    # -- what the loop reports (steps between events) --
    train_every: int = 10                 # training loss/accuracy/lr
    eval_every: int = 100                 # full test-set evaluation (all 10,000 images)
    eval_from: int = 0                    # no test evaluation before this step (speed runs skip the early ones)
    digits_every: int = 100               # the batch of training digits with predictions (dashboard panel 1)
    bands_every: int = 50                 # percentile bands of weights, biases/activations
    checkpoint_every: int = 1000          # atomic checkpoint of everything needed to resume

    def lr(self, step: int) -> float:
        if self.schedule == "onecycle":
            up = max(1, round(self.warmup * self.iterations))
            if step < up:
                return self.lr_max * (step + 1) / up
            return self.lr_min + (self.lr_max - self.lr_min) * (self.iterations - step) / (self.iterations - up + 1)
        if self.lr_decay_steps <= 0:
            return self.lr_max
        return self.lr_min + self.lr_max * math.exp(-step / self.lr_decay_steps)

    def replace(self, **changes) -> "Recipe":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        """Inverse of to_dict (JSON turns tuples into lists); unknown keys from newer versions are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known})

    def problems(self) -> list[str]:
        """What is wrong with these values, in words a user can act on; empty when all is well."""
        out = []
        positive = ("iterations", "batch_size", "train_every", "eval_every", "digits_every",
                    "bands_every", "checkpoint_every", "dense", "stage_convs")
        out += [f"--{n.replace('_', '-')} must be a positive whole number, got {getattr(self, n)}"
                for n in positive if getattr(self, n) < 1]
        if not self.lr_max > 0 or not math.isfinite(self.lr_max):
            out.append(f"--lr-max must be > 0, got {self.lr_max}")
        if self.lr_min < 0 or self.lr_decay_steps < 0:
            out.append("--lr-min and --lr-decay-steps must be >= 0")
        if not 0 <= self.dropout < 1:
            out.append(f"--dropout is a drop probability in [0, 1), got {self.dropout}")
        if not 0 <= self.label_smoothing < 1:
            out.append(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 < self.bn_decay < 1:
            out.append(f"--bn-decay must be in (0, 1), got {self.bn_decay}")
        if not 0 <= self.warmup < 1 or not 0 <= self.momentum < 1:
            out.append(f"--warmup and --momentum must be in [0, 1), got {self.warmup} and {self.momentum}")
        if min(self.augment_shift, self.augment_rotate, self.augment_scale, self.eval_from) < 0:
            out.append("--augment-shift, --augment-rotate, --augment-scale and --eval-from must be >= 0")
        if self.augment_scale >= 1 or self.augment_rotate > 180:
            out.append("--augment-scale must be < 1 and --augment-rotate at most 180 (degrees)")
        if self.weight_decay < 0:
            out.append(f"--weight-decay must be >= 0, got {self.weight_decay}")
        for name, allowed in (("optimizer", OPTIMIZERS), ("activation", ("sigmoid", "relu")), ("schedule", SCHEDULES),
                              ("batchnorm", ("none", "offset", "scale_offset"))):
            if getattr(self, name) not in allowed:
                out.append(f"--{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        from .models import MODELS  # late: models imports torch
        if self.model not in MODELS:
            out.append(f"--model must be one of {', '.join(sorted(MODELS))}, got {self.model!r}")
        if self.model == "conv" and not len(self.channels) == len(self.kernels) == len(self.strides):
            out.append("--channels, --kernels and --strides need the same number of values")
        if self.model == "bn_cnn" and not 1 <= len(self.channels) <= 4:
            out.append("--channels: bn_cnn halves the image once per channel count, so give 1 to 4 of them")
        if any(v < 1 for v in (*self.hidden, *self.channels, *self.kernels, *self.strides)):
            out.append("layer widths, channels, kernels and strides must be positive")
        return out


OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("exp", "onecycle")

# The course's decayed Adam: lr = 0.0001 + 0.003 * exp(-step / 2000).
_DECAY = dict(optimizer="adam", lr_max=0.003, lr_min=0.0001, lr_decay_steps=2000)
_FIVE = (200, 100, 60, 30)

LADDER = [
    Recipe(name="softmax", step="1.0", title="one softmax layer, plain gradient descent",
           course_accuracy=0.92, model="softmax", optimizer="sgd", lr_max=0.5, iterations=2000,
           eval_every=50, digits_every=50),
    Recipe(name="two_layer", step="1.1", title="one hidden layer of 200 sigmoids",
           course_accuracy=0.97, model="dense", hidden=(200,), activation="sigmoid",
           optimizer="sgd", lr_max=1.0, iterations=5000),  # the course leaves lr open; 0.5 stops at 96.7%
    Recipe(name="five_layer_sigmoid", step="2.0", title="five layers of sigmoids, Adam",
           course_accuracy=0.975, model="dense", hidden=_FIVE, activation="sigmoid"),
    Recipe(name="five_layer_relu", step="2.1", title="ReLU and a decaying learning rate",
           course_accuracy=0.982, model="dense", hidden=_FIVE, activation="relu", bias_init=0.1, **_DECAY),
    Recipe(name="five_layer_relu_dropout", step="2.2", title="+ dropout (keep 0.75)",
           course_accuracy=0.982, model="dense", hidden=_FIVE, activation="relu", bias_init=0.1,
           dropout=0.25, **_DECAY),
    Recipe(name="conv", step="3.0", title="three convolutional layers (4, 8, 12 channels)",
           course_accuracy=0.989, model="conv", channels=(4, 8, 12), kernels=(5, 5, 4), bias_init=0.1,
           eval_every=200, **_DECAY),
    Recipe(name="conv_bigger_dropout", step="3.1", title="bigger convolutions (6, 12, 24) + dropout",
           course_accuracy=0.993, model="conv", channels=(6, 12, 24), kernels=(6, 5, 4), bias_init=0.1,
           dropout=0.25, eval_every=200, **_DECAY),
    Recipe(name="batchnorm_five_layer_sigmoid", step="4.0", title="batch norm, five sigmoid layers",
           course_accuracy=0.981, model="dense", hidden=_FIVE, activation="sigmoid", batchnorm="scale_offset",
           optimizer="adam", lr_max=0.03, lr_min=0.0001, lr_decay_steps=1000),
    Recipe(name="batchnorm_five_layer_relu", step="4.1", title="batch norm, five ReLU layers",
           course_accuracy=0.984, model="dense", hidden=_FIVE, activation="relu", batchnorm="offset",
           optimizer="adam", lr_max=0.03, lr_min=0.0001, lr_decay_steps=1000),
    Recipe(name="batchnorm_conv", step="4.2", title="batch-normalised convolutions (24, 48, 64) + dropout",
           course_accuracy=0.995, model="conv", channels=(24, 48, 64), kernels=(6, 5, 4), batchnorm="offset",
           dropout=0.25, optimizer="adam", lr_max=0.02, lr_min=0.0001, lr_decay_steps=1600, eval_every=250),
]

# Beyond the course (course.py's final steps; benchmarked by `mnistlab bench`): airbench-style batch-norm CNNs,
# Nesterov SGD with a one-cycle schedule, label smoothing. Evaluations start late: a test pass costs ~0.3 s
# on a 2-core CPU, as much as 30 training steps of `fast`, and 99% comes only as the learning rate anneals.
_SPEED = dict(model="bn_cnn", optimizer="sgd", momentum=0.9, schedule="onecycle", warmup=0.2, lr_max=0.2,
              lr_min=0.0, label_smoothing=0.1, batch_size=128, channels_last=True)
SPEED = [
    Recipe(name="fast", title="99% in seconds on a CPU: batch-norm CNN, one cycle of ~0.75 epoch",
           channels=(16, 32, 64), iterations=350, eval_every=50, eval_from=250, digits_every=50, bands_every=25,
           checkpoint_every=350, **_SPEED),
    Recipe(name="fast995", title="99.5% in under a minute: two convs per stage, 1-pixel shifts",
           channels=(16, 32, 64), stage_convs=2, augment_shift=1.0, iterations=1600, eval_every=100,
           eval_from=1000, **_SPEED),
    Recipe(name="best", title="state of the art: wider, shifted/rotated/zoomed digits, 21 epochs",
           channels=(32, 64, 128), stage_convs=2, augment_shift=2.0, augment_rotate=10.0, augment_scale=0.1,
           weight_decay=5e-4, iterations=10000, eval_every=500, eval_from=6000, checkpoint_every=1000, **_SPEED),
]

RECIPES: dict[str, Recipe] = {r.name: r for r in LADDER + SPEED}
DEFAULT_RECIPE = "3.1"


class UnknownRecipe(KeyError):
    def __str__(self):
        return (f"unknown recipe {self.args[0]!r}; choose one of: "
                + ", ".join(f"{r.step or r.name} ({r.name})" if r.step else r.name for r in RECIPES.values()))


def get_recipe(name: str) -> Recipe:
    """By name ("conv_bigger_dropout") or course step ("3.1")."""
    for r in RECIPES.values():
        if name in (r.name, r.step):
            return r
    raise UnknownRecipe(name)


def field_help() -> dict[str, str]:
    """Each field's comment in the class body, for --help."""
    import inspect
    out = {}
    for line in inspect.getsource(Recipe).splitlines():
        line = line.strip()
        if ":" in line and "#" in line and not line.startswith(("#", "def", "return")):
            out[line.split(":")[0]] = line.split("#", 1)[1].strip()
    return out


THRESHOLDS = (0.92, 0.97, 0.98, 0.99, 0.993, 0.995, 0.997)  # for summary.json's time_to_accuracy
