"""GAN dereverberation front-end (``frontend: gan``).

Wang et al., "Investigating generative adversarial networks based speech
dereverberation for robust speech recognition", Interspeech 2018: a generator maps
reverberant (or noisy) features to clean log-mel; it is trained with a
discriminator's adversarial loss plus ``recon_weight`` x a reconstruction loss
(LSGAN, lambda = 10). Findings followed here: an LSTM generator with residual
connections (:class:`GANGenerator`, an :class:`~pipeline.enhance.models.LSTMMapper`
with ``residual: true``), G and D updated on the *same* minibatch, D unconditioned
by default (conditioning D on the reverberant input can hurt), and inference with an
exponential moving average (EMA) of G's weights, de-normalised to raw log-mel.

Config: ``frontend: gan``, ``frontend_conf`` = the generator's arguments (what
``model.pt`` holds), ``training`` = the shared options (``lr`` is G's learning
rate), and a ``gan:`` section (:data:`GAN_DEFAULTS`).

Training (:class:`GANStep`, per minibatch of ``(B, chunk_len)`` chunks, all in the
normalised target domain):

1. ``zn = G(xn)``; every ``d_every``-th batch D is updated on real ``yn`` vs
   ``zn.detach()`` (Gaussian noise of std ``disc_noise`` added to both);
2. G is updated on the same batch with
   ``adv_weight * L_adv(D(zn)) + recon_weight * L_rec(zn, yn)``, where
   ``L_adv = 0.5 (D(zn) - 1)^2`` (LSGAN) and ``L_rec`` is the per-frame ``mean``
   (or, ``recon_reduction: sum``, the sum) over the output dims of the squared
   (or absolute) error, averaged over frames;
3. the EMA generator is updated; it is what dev loss, best-model selection and
   ``model.pt`` use, so ``FeatureEnhancer.load`` gives a normal mapper.

The balance of the two terms is what the adversary's strength depends on. Wang et
al.'s released code (wangkenpu/rsrgan, ``init_mse_weight=10``, 40-d output) weighs
``10 * 0.5 * sum_dims (G(x) - y)^2`` against ``(D(G(x)) - 1)^2``: 200 x the
per-dim MSE against the adversarial term. ``recon_reduction: sum``,
``recon_weight: 5``, ``adv_weight: 2`` reproduces that
(``enhance_gan_wang.yaml``); the defaults (mean, 10, 1) give a ratio of 20: an
adversary 10 x stronger.

With ``adv_weight: 0`` the same recipe (same init, data order and random streams;
D is still trained, as a diagnostic) trains G on the reconstruction loss alone: the
ablation twin. A non-finite loss or gradient skips that update and is logged;
``max_bad_steps`` in a row raise :class:`TrainingDiverged` naming epoch and step.
"""

from __future__ import annotations

import copy
import logging
import math

import torch
from torch import nn
from torch.nn import functional as F

from pipeline import distributed as ddp
from pipeline.config import fused_optimizer
from pipeline.enhance.models import LSTMMapper, register_frontend
from pipeline.enhance.train import ChunkStep

logger = logging.getLogger(__name__)

__all__ = ["GAN_DEFAULTS", "Discriminator", "GANGenerator", "GANStep",
           "TrainingDiverged"]  # fmt: skip

GAN_DEFAULTS = {
    "adv_weight": 1.0,  # 0 = reconstruction only (the ablation twin)
    "recon_weight": 10.0,  # lambda (see recon_reduction for what it multiplies)
    "recon_loss": "mse",  # mse | l1 (normalised target domain)
    "recon_reduction": "mean",  # mean | sum of the per-dim errors of a frame
    "loss": "lsgan",  # lsgan (Mao et al. 2017) | vanilla (non-saturating G loss)
    "disc": "cnn",  # cnn | lstm: per-frame scorer
    "disc_hidden": 64,  # channels (cnn) or cells (lstm)
    "disc_layers": 2,
    "disc_kernel": 5,  # cnn: frames per convolution
    "disc_noise": 0.1,  # std of Gaussian noise added to D's inputs
    "conditional": False,  # D also sees the (normalised) input features
    "d_optimizer": "adam",  # adam | sgd
    "d_lr": 2e-4,  # follows the lr decay of training.lr
    "d_every": 1,  # k: G steps per D step
    "ema_decay": 0.999,  # 0 = no averaging
    "pretrain_epochs": 0,  # reconstruction-only epochs of G before the adversary
    "pretrain_steps": 0,  # ... or batches
    "max_bad_steps": 5,  # non-finite losses in a row before stopping
}


class TrainingDiverged(RuntimeError):
    """Training produced non-finite losses ``max_bad_steps`` times in a row."""


@register_frontend("gan", step="pipeline.enhance.gan:GANStep")
class GANGenerator(LSTMMapper):
    """The generator: a residual LSTM stack (the lstm mapper with ``residual``
    defaulting to true; layers whose in/out sizes agree add their input)."""

    def __init__(self, in_dim, out_dim, hidden: int = 256, layers: int = 2,
                 bidirectional: bool = False, proj: int = 0, residual: bool = True,
                 dropout: float = 0.0):  # fmt: skip
        super().__init__(in_dim, out_dim, hidden=hidden, layers=layers,
                         bidirectional=bidirectional, proj=proj, residual=residual,
                         dropout=dropout)  # fmt: skip


class Discriminator(nn.Module):
    """Per-frame real/fake scorer: ``(B, T, in_dim)`` -> ``(B, T)`` logits/scores.

    Args:
        kind: ``cnn`` (1-D convolutions over time, LeakyReLU, ``kernel`` frames
            each, same padding) or ``lstm`` (uni-directional, then Linear).
        noise: std of Gaussian noise added to the input while training
            (instance noise: keeps D from separating real and fake trivially).
    """

    def __init__(self, in_dim: int, kind: str = "cnn", hidden: int = 64,
                 layers: int = 2, kernel: int = 5, noise: float = 0.1):  # fmt: skip
        super().__init__()
        if kind not in ("cnn", "lstm"):
            raise ValueError(f"gan.disc must be cnn or lstm, got {kind!r}")
        self.in_dim, self.kind, self.noise = int(in_dim), kind, float(noise)
        if kind == "lstm":
            self.rnn = nn.LSTM(in_dim, hidden, num_layers=layers, batch_first=True)
            self.head = nn.Linear(hidden, 1)
        else:
            convs, prev = [], in_dim
            for _ in range(layers):
                convs += [nn.Conv1d(prev, hidden, kernel, padding=kernel // 2),
                          nn.LeakyReLU(0.2)]  # fmt: skip
                prev = hidden
            self.convs = nn.Sequential(*convs)
            self.head = nn.Conv1d(prev, 1, 1)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        if self.training and self.noise > 0:
            v = v + self.noise * torch.randn_like(v)
        if self.kind == "lstm":
            h, _ = self.rnn(v)
            return self.head(h)[..., 0]
        return self.head(self.convs(v.transpose(1, 2)))[:, 0]


class _Counters(nn.Module):
    """Step counters as buffers, so they are checkpointed with the networks."""

    def __init__(self):
        super().__init__()
        for name in ("step", "g_updates", "bad_in_row"):
            self.register_buffer(name, torch.zeros((), dtype=torch.long))


def _masked_mean(v: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return (v * m).sum() / m.sum().clamp_min(1.0)


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t).all())


class GANStep(ChunkStep):
    """Adversarial training of a :class:`GANGenerator` (see the module doc).

    Networks (all checkpointed): ``model`` (G), ``disc`` (D), ``ema`` (EMA of G's
    weights), ``counters``; optimisers ``model`` (Adam, ``training.lr``) and
    ``disc`` (``gan.d_optimizer`` at ``gan.d_lr``).
    """

    def __init__(self, model: GANGenerator, conf: dict, gan: dict | None = None):
        super().__init__(model, conf)
        gan = dict(gan or {})
        self.check_config({"gan": gan})
        g = self.gan = {**GAN_DEFAULTS, **gan}
        d_in = model.out_dim + (model.in_dim if g["conditional"] else 0)
        self.disc = Discriminator(d_in, g["disc"], int(g["disc_hidden"]),
                                  int(g["disc_layers"]), int(g["disc_kernel"]),
                                  float(g["disc_noise"]))  # fmt: skip
        self.ema = copy.deepcopy(model).requires_grad_(False)
        self.counters = _Counters()
        self.epoch, self._batch = 0, 0
        self._stats: dict[str, float] = {}

    @classmethod
    def check_config(cls, conf, where=""):
        from pipeline.enhance.train import check_values

        gan = conf.get("gan") or {}
        if not isinstance(gan, dict):
            raise ValueError(f"{where}gan must be a mapping of options")
        unknown = set(gan) - set(GAN_DEFAULTS)
        if unknown:
            raise ValueError(f"{where}unknown gan option(s) {sorted(unknown)}; known: "
                             f"{sorted(GAN_DEFAULTS)}")  # fmt: skip
        check_values(gan, GAN_DEFAULTS, f"{where}gan")
        g = {**GAN_DEFAULTS, **gan}
        choices = {"loss": ("lsgan", "vanilla"), "recon_loss": ("mse", "l1"),
                   "recon_reduction": ("mean", "sum"), "disc": ("cnn", "lstm"),
                   "d_optimizer": ("adam", "sgd")}  # fmt: skip
        for key, allowed in choices.items():
            if g[key] not in allowed:
                raise ValueError(f"{where}gan.{key} must be one of {allowed}, "
                                 f"got {g[key]!r}")  # fmt: skip
        if int(g["d_every"]) < 1 or int(g["max_bad_steps"]) < 1:
            raise ValueError(f"{where}gan.d_every and gan.max_bad_steps must be >= 1")

    @classmethod
    def from_config(cls, model, conf):
        return cls(model, conf["training"], conf.get("gan"))

    def resolved_config(self, conf):
        return {**conf, "gan": dict(self.gan)}

    def modules(self):
        return {"model": self.model, "disc": self.disc, "ema": self.ema,
                "counters": self.counters}  # fmt: skip

    def make_optimizers(self):
        lr, d_lr = self.conf["lr"], float(self.gan["d_lr"])
        d_group = [{"params": self.disc.parameters(), "lr_scale": d_lr / lr}]
        adam = fused_optimizer(torch.optim.Adam)
        if self.gan["d_optimizer"] == "adam":
            d_opt = adam(d_group, lr=d_lr, betas=(0.5, 0.999))
        else:
            d_opt = fused_optimizer(torch.optim.SGD)(d_group, lr=d_lr, momentum=0.9)
        g_opt = adam(self.model.parameters(), lr=lr, weight_decay=self.conf["weight_decay"])
        return {"model": g_opt, "disc": d_opt}

    def inference_model(self):
        return self.ema

    # --------------------------------------------------------------- losses
    def _d_input(self, yn: torch.Tensor, xn: torch.Tensor) -> torch.Tensor:
        return torch.cat([yn, xn], -1) if self.gan["conditional"] else yn

    def d_loss(self, s_real, s_fake, m) -> torch.Tensor:
        """Discriminator loss on per-frame scores ``(B, T)``, mask ``m``."""
        if self.gan["loss"] == "lsgan":
            v = 0.5 * (s_real - 1) ** 2 + 0.5 * s_fake**2
        else:
            v = F.softplus(-s_real) + F.softplus(s_fake)
        return _masked_mean(v, m)

    def g_adv_loss(self, s_fake, m) -> torch.Tensor:
        if self.gan["loss"] == "lsgan":
            return _masked_mean(0.5 * (s_fake - 1) ** 2, m)
        return _masked_mean(F.softplus(-s_fake), m)

    def recon_loss(self, zn, yn, m) -> torch.Tensor:
        d = zn - yn
        e = d**2 if self.gan["recon_loss"] == "mse" else d.abs()
        e = e.sum(-1) if self.gan["recon_reduction"] == "sum" else e.mean(-1)
        return _masked_mean(e, m)

    # ------------------------------------------------------------- training
    def begin_epoch(self, epoch):
        self.epoch, self._batch = epoch, 0
        self._stats = {}

    def end_epoch(self, epoch):
        n = max(1.0, self._stats.get("n", 0.0))
        out = {k: round(v / max(1.0, self._stats.get(f"n_{k}", n)), 5)
               for k, v in self._stats.items() if not k.startswith("n")}  # fmt: skip
        out["skipped"] = int(self._stats.get("n_skipped", 0))
        return out

    def _add(self, **kv):
        for k, v in kv.items():
            self._stats[k] = self._stats.get(k, 0.0) + v
            self._stats[f"n_{k}"] = self._stats.get(f"n_{k}", 0.0) + 1

    def _pretraining(self, step: int) -> bool:
        g = self.gan
        return (self.epoch <= int(g["pretrain_epochs"])
                or step < int(g["pretrain_steps"]))  # fmt: skip

    def _bad(self, what: str, step: int) -> None:
        self.counters.bad_in_row += 1
        n = int(self.counters.bad_in_row)
        self._stats["n_skipped"] = self._stats.get("n_skipped", 0) + 1
        where = f"epoch {self.epoch}, step {step} (batch {self._batch} of the epoch)"
        logger.warning("gan: non-finite %s at %s: update skipped (%d in a row)",
                       what, where, n)  # fmt: skip
        if n >= int(self.gan["max_bad_steps"]):
            msg = (f"gan training diverged: {n} non-finite losses/gradients in a row, "
                   f"the last ({what}) at {where}; lower training.lr / gan.d_lr or "
                   "training.grad_clip, or raise gan.disc_noise")  # fmt: skip
            logger.error(msg)
            raise TrainingDiverged(msg)

    def _update(self, loss, params, opt, what, step) -> bool:
        """Backward + clip + step unless the loss or gradient is non-finite (on
        any rank, when data-parallel: all ranks skip together)."""
        if not ddp.all_true(_finite(loss)):
            self._bad(f"{what} loss", step)
            return False
        loss.backward()
        params = list(params)
        ddp.average_grads(params)
        clip = self.conf["grad_clip"] or math.inf
        norm = nn.utils.clip_grad_norm_(params, clip)
        if not _finite(norm):
            opt.zero_grad(set_to_none=True)
            self._bad(f"{what} gradient", step)
            return False
        opt.step()
        return True

    @torch.no_grad()
    def _update_ema(self) -> None:
        self.counters.g_updates += 1
        n = int(self.counters.g_updates)
        # warm-up (as in TF's ExponentialMovingAverage num_updates): early weights
        # are not averaged in with a 0.999 weight
        decay = min(float(self.gan["ema_decay"]), (1.0 + n) / (10.0 + n))
        for pe, p in zip(self.ema.parameters(), self.model.parameters()):
            pe.lerp_(p.detach(), 1.0 - decay)
        for be, b in zip(self.ema.buffers(), self.model.buffers()):
            be.copy_(b)

    def train_batch(self, batch, optimizers):
        x, y, mask = batch
        step = int(self.counters.step) + 1  # 1-based, over the whole run
        self.counters.step += 1
        self._batch += 1
        m = mask.to(x.dtype)
        g, G, D = self.gan, self.model, self.disc
        adversarial = not self._pretraining(step - 1)
        ok = True

        zn, _ = G.core(x)
        if adversarial and (step - 1) % int(g["d_every"]) == 0:
            d_opt = optimizers["disc"]
            d_opt.zero_grad(set_to_none=True)
            s_real = D(self._d_input(y, x))
            s_fake = D(self._d_input(zn.detach(), x))
            loss_d = self.d_loss(s_real, s_fake, m)
            if self._update(loss_d, D.parameters(), d_opt, "discriminator", step):
                self._add(d_loss=loss_d.item(), d_real=_masked_mean(s_real, m).item(),
                          d_fake=_masked_mean(s_fake, m).item())  # fmt: skip
            else:
                ok = False

        g_opt = optimizers["model"]
        g_opt.zero_grad(set_to_none=True)
        rec = self.recon_loss(zn, y, m)
        loss_g = float(g["recon_weight"]) * rec
        adv = None
        if adversarial and float(g["adv_weight"]) > 0:
            D.requires_grad_(False)  # gradient to G only
            adv = self.g_adv_loss(D(self._d_input(zn, x)), m)
            D.requires_grad_(True)
            loss_g = loss_g + float(g["adv_weight"]) * adv
        if self._update(loss_g, G.parameters(), g_opt, "generator", step):
            self._update_ema()
        else:
            ok = False
        if not ok:
            return None
        self.counters.bad_in_row.zero_()
        # train_loss: per-dim MSE whatever the reduction (comparable with dev_loss)
        per_dim = rec.item() / (zn.shape[-1] if g["recon_reduction"] == "sum" else 1)
        self._add(recon=per_dim)
        if adv is not None:
            self._add(g_adv=adv.item())
        return {"loss": per_dim}
