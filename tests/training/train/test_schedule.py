"""Warm-up, cosine annealing and warm restarts at their key steps."""

import math

import pytest
import torch

from training.schedule import WarmupCosine, lr_at

KW = dict(base_lr=0.01, total_steps=1100, warmup_steps=100, final_ratio=0.01)


def test_warmup_rises_linearly_to_base():
    assert lr_at(0, **KW) == 0.0
    assert lr_at(50, **KW) == pytest.approx(0.005)
    assert lr_at(50, **KW, warmup_start=0.1) == pytest.approx(0.0055)
    assert lr_at(100, **KW) == pytest.approx(0.01)  # warm-up end = cosine start


def test_cosine_mid_and_end():
    assert lr_at(600, **KW) == pytest.approx(0.0001 + 0.0099 * 0.5)
    assert lr_at(350, **KW) == pytest.approx(0.0001 + 0.0099 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_at(1100, **KW) == pytest.approx(0.0001)
    assert lr_at(5000, **KW) == pytest.approx(0.0001)  # past the end stays at the floor


def test_warm_restarts_fixed_period():
    kw = KW | {"restart_period": 200}
    assert lr_at(200, **kw) == pytest.approx(0.0001 + 0.0099 * 0.5)
    assert lr_at(299, **kw) == pytest.approx(0.0001, rel=0.01)
    assert lr_at(300, **kw) == pytest.approx(0.01)  # restart
    assert lr_at(400, **kw) == pytest.approx(lr_at(200, **kw))


def test_warm_restarts_with_multiplier():
    kw = KW | {"restart_period": 100, "restart_mult": 2.0}
    # cycles after warm-up: [100, 200), [200, 400), [400, 800)
    assert lr_at(200, **kw) == pytest.approx(0.01)
    assert lr_at(300, **kw) == pytest.approx(0.0001 + 0.0099 * 0.5)
    assert lr_at(399, **kw) < 0.0002
    assert lr_at(400, **kw) == pytest.approx(0.01)
    assert lr_at(600, **kw) == pytest.approx(0.0001 + 0.0099 * 0.5)


def test_scheduler_sets_groups_warms_momentum_and_resumes():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.937)
    sched = WarmupCosine(opt, momentum=0.937, **KW)
    assert sched.step() == 0.0 and opt.param_groups[0]["momentum"] == pytest.approx(0.8)
    for _ in range(99):
        sched.step()
    assert sched.step() == pytest.approx(0.01)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01) and opt.param_groups[0]["momentum"] == pytest.approx(0.937)
    other = WarmupCosine(opt, momentum=0.937, **KW)
    other.load_state_dict(sched.state_dict())
    assert other.step() == sched.step()
    with pytest.raises(TypeError):
        WarmupCosine(opt, base_lr=0.01, total_step=10)
