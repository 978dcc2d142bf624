"""Feature-mapping front-ends: noisy features in, clean 40-d log-mel out.

Every model is a :class:`FeatureMapper`: it holds the global mean/variance
normalisation of its inputs and targets (buffers, so they travel with the state
dict), normalises raw input features, runs its ``core`` in the normalised domain and
de-normalises the output, so ``model(x)`` maps raw features to raw log-mel
(an AM trained on raw features can consume it directly).

Front-ends are chosen by name from :data:`FRONTENDS` (``frontend: dnn`` +
``frontend_conf: {...}`` in the config); :func:`register_frontend` adds one,
optionally with the training step that goes with it (default: the reconstruction
step :class:`pipeline.enhance.train.ChunkStep`). Every module of the
``pipeline.enhance`` package is imported the first time a name is looked up
(:func:`known_frontends`), so a front-end in a new module there registers itself:
no module has to import its dependants.

- ``dnn``: Han et al., "Learning spectral mapping for speech dereverberation and
  denoising", IEEE/ACM TASLP 2015 / Interspeech 2015: a feed-forward DNN maps a
  +-``context`` frame window of the noisy log-mel (or log-power spectrogram) to the
  clean log-mel frame.
- ``lstm``: stacked (B)LSTM spectral mapping (Weninger et al., 2014 style), optional
  projection and residual connections; the uni-directional variant is causal and
  streams with its state carried across chunks.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = [
    "FRONTENDS", "DNNMapper", "FeatureMapper", "LSTMMapper", "build_model",
    "known_frontends", "register_frontend",
]  # fmt: skip

FRONTENDS: dict[str, type] = {}
STEP_NAMES: dict[str, object] = {}  # frontend -> TrainStep class (or "module:Class")
_discovered: list[bool] = []


def register_frontend(name: str, step=None):
    """Class decorator: make a :class:`FeatureMapper` selectable as ``frontend:
    name``; ``step`` is its :class:`~pipeline.enhance.train.TrainStep` subclass (or
    ``"module:Class"``), default the plain reconstruction step."""

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, FeatureMapper)):
            raise TypeError(f"register_frontend({name!r}): {cls!r} is not a FeatureMapper")
        FRONTENDS[name] = cls
        cls.frontend = name
        if step is not None:
            STEP_NAMES[name] = step
        return cls

    return deco


def known_frontends() -> dict[str, type]:
    """Every registered front-end, after importing each module of this package
    once (built-in and added ones alike)."""
    if not _discovered:
        import importlib
        import pkgutil

        import pipeline.enhance as pkg

        _discovered.append(True)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_") and mod.name != "cli":
                importlib.import_module(f"{pkg.__name__}.{mod.name}")
    return FRONTENDS


def build_model(frontend: str, in_dim: int, out_dim: int, frontend_conf: dict | None):
    """Instantiate the registered front-end ``frontend`` with ``frontend_conf``."""
    known = known_frontends()
    if frontend not in known:
        raise ValueError(f"unknown frontend {frontend!r}; known: {sorted(known)} (a new "
                         "one: a FeatureMapper subclass decorated with "
                         "@register_frontend in a module under pipeline/enhance/)")
    return known[frontend](in_dim, out_dim, **(frontend_conf or {}))


class FeatureMapper(nn.Module):
    """Base class: raw ``(B, T, in_dim)`` features -> raw ``(B, T, out_dim)`` log-mel.

    Subclasses implement ``core(xn, state) -> (zn, state)`` on normalised features.
    ``causal``: output frame t depends on input frames <= t + ``right_context``.
    """

    frontend = "?"
    causal = True
    right_context = 0

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.register_buffer("in_mean", torch.zeros(in_dim))
        self.register_buffer("in_std", torch.ones(in_dim))
        self.register_buffer("out_mean", torch.zeros(out_dim))
        self.register_buffer("out_std", torch.ones(out_dim))

    def set_normalization(self, in_mean, in_std, out_mean, out_std) -> None:
        """Global statistics (1-D, per dim) of training inputs and targets; std is
        floored at 1e-3 so constant dims do not blow up."""
        for name, v in (("in_mean", in_mean), ("in_std", in_std),
                        ("out_mean", out_mean), ("out_std", out_std)):  # fmt: skip
            v = torch.as_tensor(v, dtype=torch.float32)
            if name.endswith("std"):
                v = v.clamp_min(1e-3)
            getattr(self, name).copy_(v)

    def normalize_in(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.in_mean) / self.in_std

    def normalize_out(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.out_mean) / self.out_std

    def denormalize_out(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.out_std + self.out_mean

    def core(self, xn: torch.Tensor, state=None):
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, in_dim) raw features -> (B, T, out_dim) raw log-mel."""
        z, _ = self.core(self.normalize_in(x))
        return self.denormalize_out(z)

    def fold_batchnorm(self) -> FeatureMapper:
        """Fold inference-mode BatchNorm into the preceding Linear (in place)."""
        return self

    batch_frames = 16384  # frames per inference batch of forward_batch

    @torch.no_grad()
    def forward_batch(self, xs: list[torch.Tensor],
                      max_frames: int | None = None) -> list[torch.Tensor]:  # fmt: skip
        """Several raw ``(T_i, in_dim)`` utterances -> their raw ``(T_i, out_dim)``
        outputs, each what ``self(x[None])[0]`` gives (to float rounding), computed
        in batches of about ``max_frames`` frames (default :attr:`batch_frames`).
        This base version runs them one by one; subclasses batch them."""
        return [self(x[None])[0] if len(x) else x.new_zeros(0, self.out_dim) for x in xs]


@register_frontend("dnn", step="pipeline.enhance.train:FrameStep")
class DNNMapper(FeatureMapper):
    """Han et al. 2015 feed-forward mapping.

    Input: a window of ``2 * context + 1`` normalised frames (edges replicate the
    first/last frame), flattened frame-major to ``(2c+1) * in_dim``; hidden layers
    Linear -> [BatchNorm] -> ReLU -> Dropout; a linear output layer predicts the
    normalised clean frame.

    Args:
        context: frames of left and of right context (Han: 5).
        hidden: list of hidden layer widths, e.g. ``[1024, 1024, 1024]``.
        dropout: dropout after each hidden layer (training only).
        batchnorm: BatchNorm1d after each hidden Linear (folded at inference).
    """

    causal = False

    def __init__(self, in_dim, out_dim, context: int = 5, hidden=(1024, 1024, 1024),
                 dropout: float = 0.1, batchnorm: bool = False):  # fmt: skip
        super().__init__(in_dim, out_dim)
        self.context = int(context)
        self.right_context = self.context
        layers: list[nn.Module] = []
        prev = (2 * self.context + 1) * in_dim
        for h in hidden:
            layers.append(nn.Linear(prev, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            prev = h
        layers.append(nn.Linear(prev, out_dim))
        self.mlp = nn.Sequential(*layers)

    @property
    def window(self) -> int:
        return 2 * self.context + 1

    def windows(self, xn_padded: torch.Tensor) -> torch.Tensor:
        """(B, T + 2c, D) edge-padded frames -> (B, T, (2c+1) * D) windows."""
        b, tp, d = xn_padded.shape
        w = xn_padded.unfold(1, self.window, 1)  # (B, T, D, W)
        return w.transpose(2, 3).reshape(b, tp - self.window + 1, self.window * d)

    def pad(self, xn: torch.Tensor) -> torch.Tensor:
        """Replicate the first and last frames ``context`` times: (B, T, D) ->
        (B, T + 2c, D)."""
        c = self.context
        if c == 0:
            return xn
        return torch.cat([xn[:, :1].expand(-1, c, -1), xn,
                          xn[:, -1:].expand(-1, c, -1)], dim=1)  # fmt: skip

    def core(self, xn, state=None):
        if xn.shape[1] == 0:
            return xn.new_zeros(xn.shape[0], 0, self.out_dim), state
        w = self.windows(self.pad(xn))
        # 2-D for the MLP: BatchNorm1d reads dim 1 of a 3-D input as channels
        return self.mlp(w.reshape(-1, w.shape[-1])).view(*w.shape[:2], -1), state

    # rows per MLP call: on one core, 200-1024-row matmuls run at 0.8-0.9 of the
    # matmul peak and 16k-row ones at 0.7 (their activations leave the cache)
    batch_frames = 1024

    @torch.no_grad()
    def forward_batch(self, xs, max_frames: int | None = None):
        """The windows of consecutive utterances through the MLP together, about
        ``max_frames`` rows per matmul."""
        max_frames = max_frames or self.batch_frames
        out: list = []
        pending: list = []  # windows of the utterances not yet run

        def run():
            w = torch.cat(pending)
            y = torch.cat([self.denormalize_out(self.mlp(w[i:i + max_frames]))
                           for i in range(0, len(w), max_frames)])  # fmt: skip
            out.extend(y.split([len(p) for p in pending]))
            pending.clear()

        n = 0
        for x in xs:
            pending.append(self.windows(self.pad(self.normalize_in(x)[None]))[0]
                           if len(x) else x.new_zeros(0, self.window * self.in_dim))
            n += len(x)
            if n >= max_frames:
                run()
                n = 0
        if pending:
            run()
        return out

    def fold_batchnorm(self) -> DNNMapper:
        layers, out, i = list(self.mlp), [], 0
        while i < len(layers):
            m = layers[i]
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(m, nn.Linear) and isinstance(nxt, nn.BatchNorm1d):
                scale = nxt.weight / torch.sqrt(nxt.running_var + nxt.eps)
                fused = nn.Linear(m.in_features, m.out_features)
                with torch.no_grad():
                    fused.weight.copy_(m.weight * scale[:, None])
                    fused.bias.copy_((m.bias - nxt.running_mean) * scale + nxt.bias)
                out.append(fused)
                i += 2
            else:
                out.append(m)
                i += 1
        self.mlp = nn.Sequential(*out)
        return self


@register_frontend("lstm")
class LSTMMapper(FeatureMapper):
    """Stacked LSTM spectral mapping: frames -> LSTM layers -> Linear.

    Args:
        hidden: LSTM cells per direction and layer.
        layers: number of stacked LSTM layers.
        bidirectional: BLSTM (not causal, cannot stream).
        proj: LSTM projection size (``nn.LSTM(proj_size=...)``), 0 = none.
        residual: add each layer's input to its output where the sizes agree.
        dropout: between layers (training only).
    """

    def __init__(self, in_dim, out_dim, hidden: int = 256, layers: int = 2,
                 bidirectional: bool = False, proj: int = 0, residual: bool = False,
                 dropout: float = 0.0):  # fmt: skip
        super().__init__(in_dim, out_dim)
        self.bidirectional = bool(bidirectional)
        self.causal = not self.bidirectional
        self.residual = bool(residual)
        dirs = 2 if bidirectional else 1
        out_per_dir = proj if proj else hidden
        self.rnns = nn.ModuleList()
        prev = in_dim
        for _ in range(layers):
            self.rnns.append(nn.LSTM(prev, hidden, batch_first=True,
                                     bidirectional=bidirectional, proj_size=proj))  # fmt: skip
            prev = out_per_dir * dirs
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.out = nn.Linear(prev, out_dim)

    @torch.no_grad()
    def forward_batch(self, xs, max_frames: int | None = None):
        """Causal (uni-directional): utterances of similar length padded at the end
        into batches of about ``max_frames`` frames (padding only follows a
        sequence's frames, so it cannot reach its outputs). A BLSTM runs them one
        by one."""
        if not self.causal:
            return super().forward_batch(xs, max_frames)
        max_frames = max_frames or self.batch_frames
        out: list = [None] * len(xs)
        order = sorted(range(len(xs)), key=lambda i: -len(xs[i]))
        i = 0
        while i < len(order):
            T = max(1, len(xs[order[i]]))  # the longest of this batch
            group = order[i:i + max(1, max_frames // T)]
            i += len(group)
            x = xs[group[0]].new_zeros(len(group), T, self.in_dim)
            for b, j in enumerate(group):
                x[b, :len(xs[j])] = xs[j]
            y = self(x)
            for b, j in enumerate(group):
                out[j] = y[b, :len(xs[j])]
        return out

    def core(self, xn, state=None):
        """xn: (B, T, in_dim); state: per-layer ``(h, c)`` list or None (zeros)."""
        new_state = []
        h = xn
        for i, rnn in enumerate(self.rnns):
            y, st = rnn(h, None if state is None else state[i])
            new_state.append(st)
            if self.residual and y.shape[-1] == h.shape[-1]:
                y = y + h
            h = self.drop(y) if i + 1 < len(self.rnns) else y
        return self.out(h), new_state
