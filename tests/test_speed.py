"""The speed and accuracy recipes (fast, fast995, best): their network, schedule, augmentation and knobs,
and the accuracy gate of `fast` (99% in one short run; the 5-seed timing is `mnistlab bench`, not a test)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from conftest import run_cli
from test_loop import SMALL, Collect, _curve
from mnistlab.augment import random_affine
from mnistlab.events import TrainUpdate
from mnistlab.loop import Control, fit, make_optimizer
from mnistlab.runs import RunDir
from mnistlab.models import build_model
from mnistlab.recipes import RECIPES, Recipe, get_recipe


@pytest.mark.parametrize("channels,convs", [((16, 32, 64), 1), ((16, 32, 64), 2), ((8, 8, 8, 8), 1), ((4,), 3)])
def test_bn_cnn_maps_images_to_logits(channels, convs):
    model = build_model(Recipe(model="bn_cnn", channels=channels, stage_convs=convs))
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    n_convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert n_convs == len(channels) * convs


def test_bn_cnn_problems_are_reported():
    assert any("1 to 4" in p for p in Recipe(model="bn_cnn", channels=(8,) * 5).problems())
    assert any("--stage-convs" in p for p in Recipe(model="bn_cnn", stage_convs=0).problems())
    assert Recipe(model="bn_cnn", channels=(16, 32, 64)).problems() == []
    for name in ("fast", "fast995", "best"):
        assert RECIPES[name].problems() == []


def test_onecycle_rises_then_falls_to_lr_min():
    r = Recipe(schedule="onecycle", warmup=0.25, iterations=100, lr_max=0.4, lr_min=0.01)
    lrs = [r.lr(s) for s in range(100)]
    peak = lrs.index(max(lrs))
    assert peak == 24 and math.isclose(lrs[peak], 0.4)
    assert all(a < b for a, b in zip(lrs[:peak], lrs[1:peak + 1]))   # rising
    assert all(a > b for a, b in zip(lrs[peak:], lrs[peak + 1:]))    # falling
    assert 0.01 < lrs[-1] < 0.02 and math.isclose(r.lr(100), 0.01)
    assert any("--schedule" in p for p in Recipe(schedule="cosine").problems())


def test_nesterov_momentum_only_when_asked():
    model = torch.nn.Linear(2, 2)
    plain = make_optimizer(Recipe(optimizer="sgd"), model).param_groups[0]
    fast = make_optimizer(get_recipe("fast"), model).param_groups[0]
    assert (plain["momentum"], plain["nesterov"]) == (0.0, False)
    assert (fast["momentum"], fast["nesterov"]) == (0.9, True)


def test_augmentation_moves_digits_but_keeps_shape_range_and_ink(mnist):
    x = mnist.train_x[:256]
    torch.manual_seed(0)
    assert torch.allclose(random_affine(x), x, atol=1e-5)  # all ranges 0: the identity
    y = random_affine(x, shift=2, rotate=10, scale=0.1)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1 + 1e-6
    assert (y - x).abs().mean() > 0.02  # moved
    ink = y.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert ink.min() > 0.7 and ink.max() < 1.4  # a zoom of 10% changes the area by ~20%, digits stay whole
    torch.manual_seed(0)
    shifted = random_affine(x[:1].expand(64, -1, -1, -1), shift=2)
    assert len({tuple(t) for t in shifted.flatten(1).round(decimals=3).tolist()}) == 64  # one draw per image


def test_channels_last_changes_layout_not_results():
    torch.manual_seed(0)
    a = build_model(get_recipe("fast")).eval()
    b = build_model(get_recipe("fast")).eval()
    b.load_state_dict(a.state_dict())
    b = b.to(memory_format=torch.channels_last)
    x = torch.rand(8, 1, 28, 28)
    assert torch.allclose(a(x), b(x), atol=1e-5)


def test_eval_from_skips_early_evaluations_but_always_tests_the_end(tiny_mnist):
    r = get_recipe("fast").replace(iterations=30, eval_every=10, eval_from=20, batch_size=64)
    result = fit(r, tiny_mnist, device="cpu")
    assert [t[0] for t in result.tests] == [20, 30]
    assert result.summary["peak_memory_mb"] > 50  # the process's resident peak: torch alone is more


def test_augmented_run_resumes_to_the_same_result(tiny_mnist, tmp_path):
    """The random shifts come from the RNG the checkpoint saves: interrupted + resumed == uninterrupted."""
    recipe = get_recipe("best").replace(**SMALL, channels=(8, 8), batch_size=32)
    whole = Collect()
    fit(recipe, tiny_mnist, [whole], run=RunDir.create(tmp_path / "a", {}), device="cpu")
    control = Control()
    first = Collect(lambda e: control.stop() if isinstance(e, TrainUpdate) and e.step == 70 else None)
    run = RunDir.create(tmp_path / "b", {})
    assert fit(recipe, tiny_mnist, [first], run=run, device="cpu", control=control).status == "interrupted"
    second = Collect()
    fit(recipe, tiny_mnist, [second], run=run, device="cpu", resume=True)
    assert _curve(first.events + second.events) == _curve(whole.events)


def test_bool_fields_parse_on_the_command_line(tmp_path):
    p = run_cli("train", "fast", "--channels-last", "false", "--iterations", "5", "--eval-every", "5",
                "--run-dir", tmp_path / "r", "--display", "none", check=True)
    assert json.loads((tmp_path / "r" / "config.json").read_text())["recipe"]["channels_last"] is False
    p = run_cli("train", "fast", "--channels-last", "maybe", "--display", "none")
    assert p.returncode == 2 and "expected true or false, got 'maybe'" in p.stderr


def test_fast_clears_98_5_percent(tmp_path):
    """Tier 3: the whole `fast` recipe, seed 0, as `mnistlab train fast` runs it (about 5 s on 2 cores).
    99.10% here; the bar leaves room for another CPU's float rounding. The 99% target over 5 seeds, and
    the time, are `mnistlab bench fast --seeds 5`'s to check, not a test's."""
    run_cli("train", "fast", "--run-dir", tmp_path / "fast", "--display", "none", check=True)
    s = json.loads((tmp_path / "fast" / "summary.json").read_text())
    assert s["max_test_accuracy"] >= 0.985, s
    assert s["iterations"] == 350 and s["time_to_accuracy"]["0.98"] is not None
