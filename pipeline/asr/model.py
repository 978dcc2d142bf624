"""The acoustic model: strided conv front + BiGRU/BiLSTM + CTC output, and SpecAugment.

Small on purpose (0.6-0.8 M parameters in the simgrid configs): the default recipe
trains five of them on 2 CPU cores. A strided 1-D convolution subsamples the
10 ms frames by ``stride`` (3 -> 30 ms, as in Kaldi's chain models), which cuts
the recurrent work by that factor; GRID sentences at 30 ms leave 3-4 output steps
per character, enough for character CTC.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvBlock(nn.Module):
    """Residual 1-D conv block: conv (same length) + BatchNorm + ReLU + dropout."""

    def __init__(self, channels: int, kernel: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm1d(channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):  # (B, C, T)
        return x + self.drop(torch.relu(self.bn(self.conv(x))))


def _flip_index(lengths: torch.Tensor, T: int, device) -> torch.Tensor:
    """(B, T) time index that reverses each sequence within its length."""
    ar = torch.arange(T, device=device)[None, :]
    idx = lengths.to(device)[:, None] - 1 - ar
    return torch.where(idx >= 0, idx, ar)


def _take_time(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``out[b, t] = x[b, idx[b, t]]``: whole rows by ``index_select`` on the
    flattened (B*T, C) tensor. The same values as ``x.gather(1, idx expanded over
    C)``, but gather's per-element kernel took 2.9 ms forward and 14 ms forward +
    backward for a (160, 40, 256) batch on one CPU thread, ``index_select`` 0.1-0.2
    and 4.8-6.7 ms: the BiRNN reverses every layer's input and output this way."""
    B, T, C = x.shape
    rows = (idx + torch.arange(B, device=idx.device)[:, None] * T).reshape(-1)
    return x.reshape(B * T, C).index_select(0, rows).view(B, T, C)


def flip_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of a padded batch within its own length.

    x: (B, T, C); lengths: (B,). out[b, t] = x[b, lengths[b] - 1 - t] for t <
    lengths[b]; padding positions stay where they are. Its own inverse."""
    return _take_time(x, _flip_index(lengths, x.shape[1], x.device))


class BiRNN(nn.Module):
    """Multi-layer bidirectional GRU or LSTM over a padded batch, exact per sequence.

    The same function as ``nn.GRU(bidirectional=True)`` (``nn.LSTM``) on a packed
    sequence, at 1.3-1.36x the training throughput of the whole step on CPU (the
    recurrent forward plus the backward take 0.7 of the time; ``benchmarks/am.py
    [--packed]``): PyTorch runs a packed sequence step by step with a shrinking
    batch, and its backward is slower still. Here each direction
    is a one-layer ``nn.GRU`` / ``nn.LSTM`` over the padded tensor; the backward
    direction reads each sequence reversed within its length (:func:`flip_padded`),
    so padding is only ever read *after* a sequence's frames and outputs at valid
    positions do not depend on it. Outputs at padding positions are arbitrary (the
    CTC loss and the decoders ignore them).

    ``cell="lstm"``: under bf16 autocast on CPU PyTorch runs ``nn.LSTM`` through
    oneDNN in bf16 (AMX / avx512_bf16), while ``nn.GRU`` stays in fp32; on the
    development CPU the whole training step of the simgrid MCT model is 1.6-1.7x
    faster with the LSTM in bf16 than with the GRU in fp32 (134 k vs 85 k and
    85 k vs 51 k frames/s in two pairs of runs, ``python benchmarks/am.py --config C``).

    Loads checkpoints of the ``nn.GRU(bidirectional=True)`` it replaced (its
    ``weight_ih_l{k}[_reverse]`` names are mapped to ``fwd.{k}`` / ``bwd.{k}``).
    """

    CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}

    def __init__(self, input_size: int, hidden_size: int, num_layers: int,
                 dropout: float = 0.0, cell: str = "gru"):  # fmt: skip
        super().__init__()
        if cell not in self.CELLS:
            raise ValueError(f"rnn cell must be one of {sorted(self.CELLS)}, not {cell!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.cell = cell
        rnn = self.CELLS[cell]
        sizes = [input_size] + [2 * hidden_size] * (num_layers - 1)
        self.fwd = nn.ModuleList(rnn(n, hidden_size, batch_first=True) for n in sizes)
        self.bwd = nn.ModuleList(rnn(n, hidden_size, batch_first=True) for n in sizes)
        self.drop = nn.Dropout(dropout)  # between layers, as nn.GRU's dropout

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x: (B, T, C); lengths: (B,) valid steps -> (B, T, 2 * hidden_size)."""
        idx = _flip_index(lengths, x.shape[1], x.device)  # the same for every layer
        h = x
        for k, (f, b) in enumerate(zip(self.fwd, self.bwd)):
            if k:
                h = self.drop(h)
            hf, _ = f(h)
            hb, _ = b(_take_time(h, idx))
            h = torch.cat([hf, _take_time(hb, idx)], dim=-1)
        return h

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for key in [k for k in state_dict if k.startswith(prefix)]:
            name = key[len(prefix):]
            if name.startswith(("fwd.", "bwd.")):
                continue
            base, _, layer = name.rpartition("_l")  # weight_ih_l1_reverse
            rev = layer.endswith("_reverse")
            layer = layer.removesuffix("_reverse")
            if base and layer.isdigit():
                new = f"{prefix}{'bwd' if rev else 'fwd'}.{layer}.{base}_l0"
                state_dict[new] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


BiGRU = BiRNN  # the name it had while it was GRU-only


class AcousticModel(nn.Module):
    """feats (B, T, D) -> CTC log-probabilities (B, ceil(T / stride), n_tokens).

    Args:
        input_dim: feature dimension D (40 for log-mel fbank).
        n_tokens: output units including the CTC blank (index 0).
        stride: frame subsampling of the input convolution.
        conv_channels: channels of the input convolution (kernel ``2*stride-1``).
        rnn_hidden, rnn_layers: bidirectional RNN size per direction, layers
            (0 layers: no RNN).
        rnn_cell: ``gru`` or ``lstm`` (:class:`BiRNN`; with ``precision: bf16``
            on CPU only the LSTM runs in bf16).
        dropout: between layers.
        conv_blocks, conv_kernel: residual 1-D conv blocks after the input
            convolution (with ``rnn_layers: 0`` a convolution-only model:
            matmul-bound, no sequential recurrence).
        conformer_layers, conformer_heads, conformer_ffn, conformer_kernel: a
            ``torchaudio.models.Conformer`` encoder of ``conv_channels`` dims
            after the convolutions (Gulati et al., Interspeech 2020); used
            instead of the GRU when ``conformer_layers > 0``.
    """

    def __init__(self, input_dim: int, n_tokens: int, stride: int = 3,
                 conv_channels: int = 256, rnn_hidden: int = 192, rnn_layers: int = 2,
                 dropout: float = 0.15, conv_blocks: int = 0,
                 conv_kernel: int = 5, conformer_layers: int = 0,
                 conformer_heads: int = 4, conformer_ffn: int = 576,
                 conformer_kernel: int = 15, rnn_cell: str = "gru"):  # fmt: skip
        super().__init__()
        self.stride = stride
        k = 2 * stride - 1
        self.conv = nn.Conv1d(input_dim, conv_channels, k, stride=stride,
                              padding=(k - 1) // 2)  # fmt: skip
        self.norm = nn.LayerNorm(conv_channels)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[ConvBlock(conv_channels, conv_kernel, dropout)
                                      for _ in range(conv_blocks)])  # fmt: skip
        self.conformer = None
        if conformer_layers:
            from torchaudio.models import Conformer

            self.conformer = Conformer(conv_channels, conformer_heads, conformer_ffn,
                                       conformer_layers, conformer_kernel,
                                       dropout=dropout)  # fmt: skip
            rnn_layers = 0
        self.rnn = None if rnn_layers == 0 else BiRNN(conv_channels, rnn_hidden, rnn_layers,
                                                      dropout=dropout, cell=rnn_cell)  # fmt: skip
        self.out = nn.Linear(2 * rnn_hidden if rnn_layers else conv_channels, n_tokens)

    def out_frames(self, n: torch.Tensor | int):
        """Number of output steps for ``n`` input frames."""
        return (n + self.stride - 1) // self.stride

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None):
        """x: (B, T, D) normalised features; lengths: (B,) frames (None: all T).

        Returns (log_probs (B, T', V), out_lengths (B,) int64)."""
        B, T, _ = x.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=x.device)
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)
        h = self.drop(torch.relu(self.norm(h)))
        out_lens = self.out_frames(lengths.long()).clamp(max=h.shape[1], min=1)
        if len(self.blocks):
            h = self.blocks(h.transpose(1, 2)).transpose(1, 2)
        if self.conformer is not None:
            h, _ = self.conformer(h, out_lens)
        if self.rnn is None:
            # log_softmax in fp32 also under bf16 autocast (the CTC loss needs it)
            return self.out(self.drop(h)).float().log_softmax(-1), out_lens
        h = self.rnn(h, out_lens)
        return self.out(self.drop(h)).float().log_softmax(-1), out_lens


class SpecAugment(nn.Module):
    """SpecAugment-style masking (Park et al., Interspeech 2019), no time warp:
    ``n_freq`` bands of up to ``freq_width`` bins and ``n_time`` spans of up to
    ``time_width`` frames (at most ``max_time_ratio`` of each utterance) are set
    to 0 (the CMVN mean). Training only; x: (B, T, D), lengths: (B,) frames.

    ``freq_warp`` > 0 first stretches each utterance's mel axis by a random factor
    in ``[1 - freq_warp, 1 + freq_warp]`` (linear interpolation between bins): a
    feature-domain version of vocal tract length perturbation (Jaitly & Hinton,
    2013), for speaker variety when there are few training speakers.
    """

    def __init__(self, n_freq: int = 2, freq_width: int = 8, n_time: int = 2,
                 time_width: int = 20, max_time_ratio: float = 0.2,
                 freq_warp: float = 0.0):  # fmt: skip
        super().__init__()
        self.n_freq, self.freq_width = n_freq, freq_width
        self.n_time, self.time_width, self.max_time_ratio = n_time, time_width, max_time_ratio  # noqa: E501
        self.freq_warp = freq_warp

    def warp(self, x: torch.Tensor) -> torch.Tensor:
        """Stretch the feature axis of each utterance: out[..., d] = x[..., d*a]."""
        B, T, D = x.shape
        a = 1 + (2 * torch.rand(B, 1, device=x.device) - 1) * self.freq_warp
        pos = (torch.arange(D, device=x.device)[None, :] * a).clamp(0, D - 1)
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=D - 1)
        frac = (pos - lo)[:, None, :]
        lo, hi = lo[:, None, :].expand(B, T, D), hi[:, None, :].expand(B, T, D)
        return x.gather(2, lo) * (1 - frac) + x.gather(2, hi) * frac

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.freq_warp > 0:
            x = self.warp(x)
        B, T, D = x.shape
        mask = torch.zeros(B, T, D, dtype=torch.bool, device=x.device)
        ar_d = torch.arange(D, device=x.device)
        ar_t = torch.arange(T, device=x.device)
        for _ in range(self.n_freq):
            w = torch.randint(0, self.freq_width + 1, (B, 1), device=x.device)
            f0 = (torch.rand(B, 1, device=x.device) * (D - w + 1)).long()
            mask |= ((ar_d >= f0) & (ar_d < f0 + w))[:, None, :]
        for _ in range(self.n_time):
            maxw = torch.minimum(torch.full_like(lengths, self.time_width),
                                 (lengths.float() * self.max_time_ratio).long())  # fmt: skip
            w = (torch.rand(B, device=x.device) * (maxw + 1).float()).long()[:, None]
            t0 = (torch.rand(B, 1, device=x.device) * (lengths[:, None] - w + 1).float()).long()  # noqa: E501
            mask |= ((ar_t >= t0) & (ar_t < t0 + w))[:, :, None]
        return x.masked_fill(mask, 0.0)


def stretch_time(x: torch.Tensor, lengths: torch.Tensor, factor: float) -> tuple:
    """Feature-domain speed perturbation of a padded batch: (B, T, D) features
    resampled in time to ``round(T * factor)`` frames by linear interpolation
    between neighbouring frames (``factor`` < 1: faster speech). Output frame t
    reads input position t (T - 1) / (T' - 1), so an utterance of L frames keeps
    floor((L - 1) (T' - 1) / (T - 1)) + 1 frames, each interpolated between two
    of its own (never the padding). Returns (features, lengths)."""
    T = x.shape[1]
    if T < 2:
        return x, lengths
    T2 = max(2, int(round(T * factor)))
    y = torch.nn.functional.interpolate(x.transpose(1, 2), size=T2, mode="linear",
                                        align_corners=True).transpose(1, 2)  # fmt: skip
    last = torch.div((lengths - 1).clamp(min=0) * (T2 - 1), T - 1, rounding_mode="floor")
    return y.contiguous(), (last + 1).clamp(1, T2)


def shift_phase(x: torch.Tensor, lengths: torch.Tensor, offset: int) -> tuple:
    """The batch without its first ``offset`` frames: the strided input
    convolution then sees another subsampling phase of every utterance (what
    ``decode --phases`` averages over). Returns (features, lengths)."""
    if offset <= 0:
        return x, lengths
    return x[:, offset:].contiguous(), (lengths - offset).clamp(min=1)
