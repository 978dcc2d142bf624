"""GAN front-end (pipeline/enhance/gan.py) on tiny synthetic parallel data: the
adversarial game on a toy problem, EMA inference, exact resume, conditional D,
the divergence guard (the CLI with the quick config: test_enhance.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pipeline.enhance.enhancer import FeatureEnhancer
from pipeline.enhance.gan import GANGenerator, GANStep, TrainingDiverged
from pipeline.enhance.train import normalize_config
from tests.enhance.conftest import make_parallel, train

torch.set_num_threads(1)

GAN_CONF = {"frontend": "gan", "frontend_conf": {"hidden": 24, "layers": 2},
            "seed": 3, "training": {"epochs": 3, "frames_per_epoch": 3000,
                                    "batch_size": 8, "chunk_len": 30, "lr": 0.005,
                                    "patience": 5},
            "gan": {"disc_hidden": 16, "disc_layers": 1, "d_lr": 0.002,
                    "ema_decay": 0.9}}  # fmt: skip


def _conf(**gan):
    return dict(GAN_CONF, gan=dict(GAN_CONF["gan"], **gan))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan")
    return root, make_parallel(root)


@pytest.fixture(scope="module")
def trained(data):
    root, par = data
    exp = root / "exp"
    return exp, train(par, exp, GAN_CONF)


def _step(conditional=False, **gan):
    torch.manual_seed(0)
    g = GANGenerator(40, 40, hidden=16, layers=1)
    conf = normalize_config(_conf(conditional=conditional, **gan))
    return GANStep.from_config(g, conf)


def _toy_batch(gen, b=8, t=20):
    """Toy problem: real frames are smooth sines, G's input is white noise."""
    ph = torch.rand(b, 1, 1, generator=gen) * 6.28
    y = torch.sin(torch.arange(t)[None, :, None] / 3.0 + ph + torch.arange(40) / 5.0)
    x = torch.randn(b, t, 40, generator=gen)
    return x, y, torch.ones(b, t, dtype=torch.bool)


def test_toy_game_d_separates_and_g_adversarial_loss_falls():
    step = _step(recon_weight=0.0, disc_noise=0.0, d_lr=0.005)
    opts = step.make_optimizers()
    gen = torch.Generator().manual_seed(1)
    step.begin_epoch(1)
    # phase 1: G frozen (lr 0): D learns to tell real from G's output
    opts["model"].param_groups[0]["lr"] = 0.0
    w0 = [p.clone() for p in step.model.parameters()]
    for _ in range(60):
        step.train_batch(_toy_batch(gen), opts)
    assert all(torch.equal(a, b) for a, b in zip(w0, step.model.parameters()))
    x, y, m = _toy_batch(gen)
    step.disc.eval()
    with torch.no_grad():
        zn, _ = step.model.core(x)
        s_real, s_fake = step.disc(y), step.disc(zn)
        d_loss = step.d_loss(s_real, s_fake, m.float()).item()
        adv0 = step.g_adv_loss(s_fake, m.float()).item()
    assert s_real.mean() > 0.7 and s_fake.mean() < 0.3
    assert d_loss < 0.1 < 0.25  # 0.25: LSGAN loss of a D that cannot tell
    # phase 2: D frozen (lr 0): G alone lowers its adversarial loss
    opts["model"].param_groups[0]["lr"] = 0.01
    opts["disc"].param_groups[0]["lr"] = 0.0
    for _ in range(40):
        step.train_batch(_toy_batch(gen), opts)
    with torch.no_grad():
        adv1 = step.g_adv_loss(step.disc(step.model.core(x)[0]), m.float()).item()
    assert adv1 < 0.5 * adv0


def test_ema_is_what_model_pt_and_enhancer_hold(trained, data):
    exp, m = trained
    ck = torch.load(exp / "ckpt" / "last.pt", weights_only=False)
    raw, ema = ck["modules"]["model"], ck["modules"]["ema"]
    assert set(ck["modules"]) == {"model", "disc", "ema", "counters"}
    assert set(ck["optimizers"]) == {"model", "disc"}
    assert int(ck["modules"]["counters"]["step"]) == 3 * (3000 // (8 * 30))
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)
    best = torch.load(exp / "model.pt", weights_only=False)
    assert best["frontend"] == "gan" and m["best_epoch"] == best["epoch"]
    if m["best_epoch"] == 3:  # the last epoch's EMA is the checkpoint's
        for k, v in ema.items():
            assert torch.equal(best["state_dict"][k], v), k
    enh = FeatureEnhancer.load(exp)
    assert isinstance(enh.model, GANGenerator)
    for k, v in enh.model.state_dict().items():
        assert torch.equal(v, best["state_dict"][k]), k
    # a normal mapper: beats identity, streams like the causal lstm
    dev = m["dev"]["all"]
    assert dev["enh_mse"] < 0.7 * dev["input_mse"]
    x = np.random.default_rng(0).normal(3, 1, (57, 40)).astype(np.float32)
    s = enh.stream()
    out = np.concatenate([s.push(x[i:i + 10]) for i in range(0, 57, 10)] + [s.flush()])
    np.testing.assert_allclose(out, enh.enhance(x), atol=1e-5)
    assert {"d_loss", "d_real", "d_fake", "g_adv", "skipped"} <= set(m["history"][-1])


def test_resume_equals_uninterrupted(data, tmp_path):
    _, par = data
    conf = _conf(pretrain_steps=5)
    train(par, tmp_path / "full", conf)
    one = dict(conf, training=dict(conf["training"], epochs=1))
    train(par, tmp_path / "part", one)
    train(par, tmp_path / "part", conf)
    a = torch.load(tmp_path / "full" / "ckpt" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "part" / "ckpt" / "last.pt", weights_only=False)
    for name, mod in a["modules"].items():
        for k, v in mod.items():
            assert torch.equal(v, b["modules"][name][k]), (name, k)
    for name in ("model", "disc"):
        sa, sb = a["optimizers"][name]["state"], b["optimizers"][name]["state"]
        for i in sa:
            for k, v in sa[i].items():
                assert torch.equal(torch.as_tensor(v), torch.as_tensor(sb[i][k]))
    assert a["state"]["history"] == [
        dict(h, seconds=a["state"]["history"][i]["seconds"])
        for i, h in enumerate(b["state"]["history"])
    ]


def test_conditional_d_sees_the_input():
    plain, cond = _step(), _step(conditional=True)
    assert plain.disc.in_dim == 40 and cond.disc.in_dim == 80
    assert cond.disc.convs[0].weight.shape[1] == 80
    lstm_d = _step(conditional=True, disc="lstm").disc
    assert lstm_d.rnn.input_size == 80
    gen = torch.Generator().manual_seed(0)
    opts = cond.make_optimizers()
    cond.begin_epoch(1)
    assert math.isfinite(cond.train_batch(_toy_batch(gen), opts)["loss"])
    with pytest.raises(ValueError, match="unknown gan option"):
        _step(lamda=3)


def test_nan_guard_skips_then_stops(data, tmp_path, monkeypatch, caplog):
    step = _step(max_bad_steps=3)
    opts = step.make_optimizers()
    gen = torch.Generator().manual_seed(0)
    step.begin_epoch(1)
    real = GANStep.recon_loss
    nan_at = {2}

    def recon(self, zn, yn, m):
        v = real(self, zn, yn, m)
        return v * math.nan if int(self.counters.step) in nan_at else v

    monkeypatch.setattr(GANStep, "recon_loss", recon)
    step.train_batch(_toy_batch(gen), opts)
    w = [p.clone() for p in step.model.parameters()]
    assert step.train_batch(_toy_batch(gen), opts) is None  # step 2: skipped
    assert all(torch.equal(a, b) for a, b in zip(w, step.model.parameters()))
    assert int(step.counters.bad_in_row) == 1
    assert step.train_batch(_toy_batch(gen), opts) is not None
    assert int(step.counters.bad_in_row) == 0
    assert "non-finite generator loss at epoch 1, step 2" in caplog.text
    # through the trainer: NaN from step 4 on -> stops after 3, naming epoch/step
    nan_at.clear()
    nan_at.update(range(4, 10_000))
    with pytest.raises(TrainingDiverged, match=r"3 non-finite .* at epoch 1, step 6"):
        train(data[1], tmp_path / "exp", _conf(max_bad_steps=3))
