"""Tier 1: every recipe's network has the course's shapes, and a few steps lower its loss."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mnistlab.loop import make_optimizer
from mnistlab.models import CourseBatchNorm, build_model, split_params
from mnistlab.recipes import LADDER, RECIPES, get_recipe


@pytest.mark.parametrize("name", list(RECIPES))
def test_shapes_and_a_few_steps_lower_the_loss(name, mnist):
    recipe = RECIPES[name]
    torch.manual_seed(0)
    model = build_model(recipe)
    x, y = mnist.train_x[:100], mnist.train_y[:100]
    assert model(x).shape == (100, 10)
    opt = make_optimizer(recipe, model)
    losses = []
    for _ in range(8):
        for g in opt.param_groups:
            g["lr"] = min(recipe.lr_max, 0.01) if recipe.optimizer == "adam" else recipe.lr_max
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_the_course_architectures():
    conv = build_model(get_recipe("3.0"))
    feature_maps = []
    for m in conv.net:
        if isinstance(m, torch.nn.ReLU):
            m.register_forward_hook(lambda mod, i, o: feature_maps.append(tuple(o.shape[1:])))
    conv(torch.zeros(2, 1, 28, 28))
    # 28 -> 14 -> 7 with "same" padding; 4, 8, 12 channels; dense 200
    assert feature_maps == [(4, 28, 28), (8, 14, 14), (12, 7, 7), (200,)]
    big = build_model(get_recipe("3.1"))
    assert [m.kernel_size for m in big.modules() if isinstance(m, torch.nn.Conv2d)] == [(6, 6), (5, 5), (4, 4)]
    dense = build_model(get_recipe("2.0"))
    assert [m.out_features for m in dense.modules() if isinstance(m, torch.nn.Linear)] == [200, 100, 60, 30, 10]
    soft = build_model(get_recipe("1.0"))
    assert all((p == 0).all() for p in soft.parameters())  # the course starts 1.0 at zero


def test_initialisation_follows_the_course():
    torch.manual_seed(0)
    relu = build_model(get_recipe("2.1"))
    linears = [m for m in relu.modules() if isinstance(m, torch.nn.Linear)]
    assert all((m.bias == 0.1).all() for m in linears[:-1]) and (linears[-1].bias == 0).all()
    w = torch.cat([m.weight.flatten() for m in linears])
    assert w.abs().max() <= 0.2 + 1e-6 and 0.07 < w.std() < 0.1  # truncated normal, sd 0.1 before truncation


def test_batchnorm_variants():
    offset_only = build_model(get_recipe("4.1"))
    bns = [m for m in offset_only.modules() if isinstance(m, CourseBatchNorm)]
    assert len(bns) == 4 and all(b.weight is None for b in bns)  # the course: offset, no scale, with ReLU
    with_scale = build_model(get_recipe("4.0"))
    assert all(b.weight is not None for b in with_scale.modules() if isinstance(b, CourseBatchNorm))
    # moving averages: fast at first (TF's num_updates), settling at decay 0.999
    bn = CourseBatchNorm(3, 1, scale=False)
    bn.train()
    bn(torch.randn(8, 3) + 5)
    assert bn.bn.running_mean.mean() > 4  # momentum 0.9 on the first batch, not 0.001
    for _ in range(10000):
        bn.bn.num_batches_tracked += 1
    bn(torch.randn(8, 3))
    assert bn.bn.momentum == pytest.approx(0.001)


def test_weights_and_biases_split():
    weights, biases = split_params(build_model(get_recipe("3.1")))
    assert all(p.dim() > 1 for p in weights) and all(p.dim() == 1 for p in biases)
    assert len(weights) == 5 and len(biases) == 5


def test_ladder_is_the_course():
    assert [r.step for r in LADDER] == ["1.0", "1.1", "2.0", "2.1", "2.2", "3.0", "3.1", "4.0", "4.1", "4.2"]
    r = get_recipe("2.1")
    assert r.lr(0) == pytest.approx(0.0031) and r.lr(2000) == pytest.approx(0.0001 + 0.003 / 2.718281828, rel=1e-6)
    assert get_recipe("conv_bigger_dropout") is get_recipe("3.1")
