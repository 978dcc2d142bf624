"""Kaldi-compatible acoustic features: log-mel filterbank, MFCC, spectrogram, CMVN.

Numerics follow Kaldi's ``compute-fbank-feats`` / ``compute-mfcc-feats`` /
``compute-spectrogram-feats`` (``src/feat/feature-window.cc``,
``src/feat/mel-computations.cc``, ``src/feat/feature-fbank.cc``,
``feature-mfcc.cc``, ``feature-spectrogram.cc``) and ``apply-cmvn``
(``src/transform/cmvn.cc``); the tests check them against kaldi-native-fbank.

The work is vectorised over frames: framing is a strided view, every frame of an
utterance (or of a batch of utterances, :func:`compute_fbank_batch`) goes through
one batched float32 real FFT (scipy.fft, one worker) and
one (T, 257) @ (257, D) product with the mel weights; window and mel matrix are
cached per option set. On one core this runs ~4500x real time: ~1.2x SpeechBrain's
Fbank and ~5x kaldi-native-fbank (``benchmarks/features.py``).

Waveform rule (all public functions): a floating-point waveform is taken to be in
[-1, 1] and is multiplied by 32768, as Kaldi reads 16-bit PCM; an integer waveform
(``int16``) is used as sample values unchanged. Features are therefore identical for
``x_int16`` and ``x_int16 / 32768``.

Everything here is a pure function of its arguments; writing features to a data dir
is :class:`pipeline.make_feats.FeatsWriter`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft

__all__ = [
    "FEATURE_KINDS",
    "FbankOptions",
    "add_cmvn_stats",
    "apply_cmvn",
    "cmvn_stats",
    "compute_fbank",
    "compute_fbank_batch",
    "compute_features",
    "compute_log_spectrogram",
    "compute_mfcc",
    "dct_matrix",
    "fbank_options",
    "fbank_to_mfcc",
    "feature_dim",
    "lifter_coeffs",
    "mel_banks",
    "num_frames",
    "window_function",
]

# Kaldi floors energies at FLT_EPSILON before taking logs (feature-fbank.cc).
_FLT_EPS = float(np.finfo(np.float32).eps)
# Kaldi reads 16-bit PCM as sample values (wave-reader.cc); floats map [-1, 1] here.
_PCM16_SCALE = 32768.0
_WINDOW_TYPES = ("povey", "hamming", "hanning", "rectangular", "blackman", "sine")


@dataclass(frozen=True)
class FbankOptions:
    """Frame, mel and energy options with Kaldi's names and defaults.

    Defaults are Kaldi's ``compute-fbank-feats`` defaults except ``num_mel_bins``
    (40 instead of 23) and ``dither`` (0 instead of 1, so features are
    deterministic). Frozen, so an instance is a cache key.

    Attributes:
        sample_rate: Hz (Kaldi ``--sample-frequency``).
        frame_length_ms, frame_shift_ms: window length and hop in ms.
        num_mel_bins: number of triangular mel filters (>= 3).
        low_freq: Hz, lower edge of the first mel filter.
        high_freq: Hz, upper edge of the last filter; <= 0 means Nyquist + high_freq.
        preemph_coeff: pre-emphasis, applied per frame after DC removal.
        remove_dc_offset: subtract each frame's mean.
        window_type: povey, hamming, hanning, rectangular, blackman or sine.
        blackman_coeff: the constant of the generalised Blackman window.
        dither: standard deviation (in 16-bit sample units) of Gaussian noise added
            to each frame independently, as Kaldi's ``Dither``; 0 disables.
        snip_edges: True: only frames that fit in the signal; False: frames centred
            at ``shift * (t + 1/2)`` with reflected edges (Kaldi ``--snip-edges``).
        round_to_power_of_two: zero-pad each frame to the next power of two FFT.
        energy_floor: floor on the (linear) frame energy; used when use_energy.
        raw_energy: energy before pre-emphasis and windowing; used when use_energy.
        use_energy: prepend log frame energy as column 0 (fbank) or replace C0 (MFCC).
        use_log_fbank: natural log of mel energies (floored at FLT_EPSILON).
        use_power: power spectrum (True) or magnitude spectrum (False).
    """

    sample_rate: int = 16000
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    num_mel_bins: int = 40
    low_freq: float = 20.0
    high_freq: float = 0.0
    preemph_coeff: float = 0.97
    remove_dc_offset: bool = True
    window_type: str = "povey"
    blackman_coeff: float = 0.42
    dither: float = 0.0
    snip_edges: bool = True
    round_to_power_of_two: bool = True
    energy_floor: float = 0.0
    raw_energy: bool = True
    use_energy: bool = False
    use_log_fbank: bool = True
    use_power: bool = True

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0, got {self.sample_rate}")
        if self.window_size < 2 or self.window_shift < 1:
            raise ValueError(
                f"frame_length_ms={self.frame_length_ms} / frame_shift_ms="
                f"{self.frame_shift_ms} give a window of {self.window_size} and a "
                f"shift of {self.window_shift} samples at {self.sample_rate} Hz"
            )
        if self.window_type not in _WINDOW_TYPES:
            raise ValueError(
                f"window_type must be one of {_WINDOW_TYPES}, got {self.window_type!r}"
            )
        if self.num_mel_bins < 3:
            raise ValueError(f"num_mel_bins must be >= 3, got {self.num_mel_bins}")
        nyquist = 0.5 * self.sample_rate
        high = self.high_freq if self.high_freq > 0 else nyquist + self.high_freq
        if not (0 <= self.low_freq < nyquist and 0 < high <= nyquist
                and high > self.low_freq):
            raise ValueError(
                f"bad mel range: low_freq={self.low_freq} high_freq={self.high_freq} "
                f"(-> {high} Hz) with Nyquist {nyquist} Hz"
            )
        if self.dither < 0:
            raise ValueError(f"dither must be >= 0, got {self.dither}")

    @property
    def window_size(self) -> int:
        """Frame length in samples (Kaldi ``FrameExtractionOptions::WindowSize``)."""
        return int(self.sample_rate * 0.001 * self.frame_length_ms)

    @property
    def window_shift(self) -> int:
        """Frame shift in samples (Kaldi ``WindowShift``)."""
        return int(self.sample_rate * 0.001 * self.frame_shift_ms)

    @property
    def padded_window_size(self) -> int:
        """FFT length (Kaldi ``PaddedWindowSize``)."""
        n = self.window_size
        return 1 << (n - 1).bit_length() if self.round_to_power_of_two else n


_DEFAULT_OPTIONS = FbankOptions()


def fbank_options(opts: FbankOptions | None = None, **overrides) -> FbankOptions:
    """``opts`` (default :class:`FbankOptions`) with ``overrides`` replaced.

    Raises:
        ValueError: an override is not an :class:`FbankOptions` field.
    """
    base = _DEFAULT_OPTIONS if opts is None else opts
    if not overrides:
        return base
    names = {f.name for f in dataclasses.fields(FbankOptions)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown fbank option(s) {unknown}; known: {sorted(names)}")
    return dataclasses.replace(base, **overrides)


# ---------------------------------------------------------------------------------
# Cached per-option constants
# ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _window_cached(n: int, window_type: str, blackman_coeff: float) -> np.ndarray:
    # feature-window.cc FeatureWindowFunction, computed in double as Kaldi does.
    i = np.arange(n, dtype=np.float64)
    a = 2.0 * math.pi / (n - 1)
    if window_type == "hanning":
        w = 0.5 - 0.5 * np.cos(a * i)
    elif window_type == "sine":
        w = np.sin(0.5 * a * i)
    elif window_type == "hamming":
        w = 0.54 - 0.46 * np.cos(a * i)
    elif window_type == "povey":
        w = (0.5 - 0.5 * np.cos(a * i)) ** 0.85
    elif window_type == "rectangular":
        w = np.ones(n)
    elif window_type == "blackman":
        w = (blackman_coeff - 0.5 * np.cos(a * i)
             + (0.5 - blackman_coeff) * np.cos(2 * a * i))
    else:
        raise ValueError(f"unknown window_type {window_type!r}")
    w = w.astype(np.float32)
    w.setflags(write=False)
    return w


def window_function(opts: FbankOptions | None = None, **overrides) -> np.ndarray:
    """Analysis window, ``(window_size,)`` float32 (Kaldi feature-window.cc)."""
    o = fbank_options(opts, **overrides)
    return _window_cached(o.window_size, o.window_type, o.blackman_coeff)


def _mel_scale(freq: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(freq, dtype=np.float64) / 700.0)


@functools.lru_cache(maxsize=64)
def _mel_banks_cached(
    num_bins: int, padded: int, sample_rate: int, low_freq: float, high_freq: float
) -> np.ndarray:
    # mel-computations.cc MelBanks::MelBanks (no VTLN). Kaldi fills only the first
    # padded/2 FFT bins, so the Nyquist row stays zero.
    nyquist = 0.5 * sample_rate
    high = high_freq if high_freq > 0 else nyquist + high_freq
    num_fft_bins = padded // 2
    mel_low, mel_high = _mel_scale(low_freq), _mel_scale(high)
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = np.arange(num_bins, dtype=np.float64)[None, :]
    left = mel_low + b * delta
    center = mel_low + (b + 1) * delta
    right = mel_low + (b + 2) * delta
    mel = _mel_scale(sample_rate / padded * np.arange(num_fft_bins))[:, None]
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    w = np.where(mel <= center, up, down)
    w = np.where((mel > left) & (mel < right), w, 0.0)
    out = np.zeros((padded // 2 + 1, num_bins), dtype=np.float32)
    out[:num_fft_bins] = w
    out.setflags(write=False)
    return out


def mel_banks(opts: FbankOptions | None = None, **overrides) -> np.ndarray:
    """Triangular mel weights, ``(padded_window_size // 2 + 1, num_mel_bins)`` float32.

    ``power_spectrum (T, F) @ mel_banks() -> (T, num_mel_bins)``; Kaldi's mel scale
    ``1127 ln(1 + f / 700)`` with filters equally spaced in mel between low_freq and
    high_freq (mel-computations.cc ``MelBanks``).
    """
    o = fbank_options(opts, **overrides)
    return _mel_banks_cached(
        o.num_mel_bins, o.padded_window_size, o.sample_rate, o.low_freq, o.high_freq
    )


def _mel_key(o: FbankOptions) -> tuple:
    return (o.num_mel_bins, o.padded_window_size, o.sample_rate, o.low_freq,
            o.high_freq)


# ---------------------------------------------------------------------------------
# Framing (feature-window.cc)
# ---------------------------------------------------------------------------------


def num_frames(num_samples: int, opts: FbankOptions | None = None, **overrides) -> int:
    """Number of frames Kaldi extracts from ``num_samples`` (``NumFrames``, flush)."""
    o = fbank_options(opts, **overrides)
    n, shift = o.window_size, o.window_shift
    if o.snip_edges:
        return 0 if num_samples < n else 1 + (num_samples - n) // shift
    return (num_samples + shift // 2) // shift


def _as_samples(wav, sr: int, o: FbankOptions) -> np.ndarray:
    """1-D waveform -> float32 samples in 16-bit units (see module docstring)."""
    if sr != o.sample_rate:
        raise ValueError(
            f"waveform sample rate {sr} Hz != feature sample_rate {o.sample_rate} Hz; "
            f"resample the audio or pass sample_rate={sr}"
        )
    if hasattr(wav, "detach"):  # torch.Tensor, without importing torch
        wav = wav.detach().cpu().numpy()
    x = np.asarray(wav)
    if x.ndim != 1:
        raise ValueError(
            f"expected a 1-D waveform, got shape {x.shape}; pick a channel first"
        )
    if np.issubdtype(x.dtype, np.integer):
        return x.astype(np.float32)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"unsupported waveform dtype {x.dtype}")
    return (x * _PCM16_SCALE).astype(np.float32, copy=False)


def _make_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(0 if rng is None else rng)


def _frame_indices(n_samples: int, t: int, o: FbankOptions) -> np.ndarray:
    # snip_edges=False: frame t starts at shift*t + shift/2 - length/2 and samples
    # outside the signal are reflected (ExtractWindow / FirstSampleOfFrame).
    n, shift = o.window_size, o.window_shift
    start = np.arange(t, dtype=np.int64) * shift + shift // 2 - n // 2
    idx = start[:, None] + np.arange(n, dtype=np.int64)[None, :]
    while True:
        low, high = idx < 0, idx >= n_samples
        if not (low.any() or high.any()):
            return idx
        idx = np.where(low, -idx - 1, idx)
        idx = np.where(idx >= n_samples, 2 * n_samples - 1 - idx, idx)


def _frames_view(x: np.ndarray, t: int, n: int, shift: int) -> np.ndarray:
    """Read-only (t, n) view of frames ``x[i * shift : i * shift + n]``."""
    return np.lib.stride_tricks.as_strided(
        x, (t, n), (shift * x.strides[0], x.strides[0]), writeable=False
    )


def _fill_windows(
    x: np.ndarray, t: int, o: FbankOptions, out: np.ndarray, rng
) -> np.ndarray | None:
    """Write Kaldi-processed frames of ``x`` into ``out[:, :window_size]``.

    ``x``: (N,) float32 samples; ``out``: (t, padded) float32 with zeros beyond
    ``window_size``. Applies dither, DC removal, pre-emphasis and the window in
    Kaldi's order (``ProcessWindow``). Returns the raw log energy (t,) float32 when
    needed (``use_energy`` and ``raw_energy``), else None.
    """
    n, shift, c = o.window_size, o.window_shift, np.float32(o.preemph_coeff)
    win = _window_cached(n, o.window_type, o.blackman_coeff)
    frames_out = out[:, :n]
    need_raw_energy = o.use_energy and o.raw_energy
    if o.snip_edges and o.dither == 0.0 and not need_raw_energy:
        # Fast path. Pre-emphasis commutes with framing except at each frame's first
        # sample, and DC removal before pre-emphasis is a constant (1 - c) * mean
        # offset, so: window * (preemph(signal) framed - (1 - c) * mean), then fix
        # column 0 to Kaldi's w[0] * (1 - c) * (x[0] - mean).
        if o.remove_dc_offset:
            # Removing a global offset changes nothing after per-frame DC removal
            # but keeps float32 pre-emphasis exact-ish for signals with a large DC
            # (rounded, so integer-valued samples stay exact).
            x = x - np.float32(np.round(x.mean(dtype=np.float64)))
        view = _frames_view(x, t, n, shift)
        if c != 0:
            g = np.empty_like(x)
            np.multiply(x[:-1], -c, out=g[1:])
            g[1:] += x[1:]
            g[0] = x[0]
            gview = _frames_view(g, t, n, shift)
        else:
            gview = view
        first = view[:, 0]
        if o.remove_dc_offset:
            mean = view.sum(axis=1) / np.float32(n)
            np.subtract(gview, (mean * (1 - c))[:, None], out=frames_out)
            np.multiply(frames_out, win, out=frames_out)
            first = first - mean
        else:
            np.multiply(gview, win, out=frames_out)
        frames_out[:, 0] = win[0] * (1 - c) * first
        return None

    if o.snip_edges:
        frames = _frames_view(x, t, n, shift).copy()
    else:
        frames = x[_frame_indices(x.shape[0], t, o)]
    if o.dither > 0.0:
        gen = _make_rng(rng)
        frames += gen.standard_normal(frames.shape, dtype=np.float32) * np.float32(
            o.dither
        )
    if o.remove_dc_offset:
        frames -= frames.mean(axis=1, keepdims=True, dtype=np.float64).astype(
            np.float32
        )
    log_energy = None
    if need_raw_energy:
        log_energy = np.einsum("ij,ij->i", frames, frames)
    if c != 0:
        np.multiply(frames[:, :-1], -c, out=frames_out[:, 1:])
        frames_out[:, 1:] += frames[:, 1:]
        frames_out[:, 0] = frames[:, 0] * (1 - c)
    else:
        frames_out[...] = frames
    frames_out *= win
    return log_energy


def _rfft(buf: np.ndarray) -> np.ndarray:
    """Real FFT of each row: (T, P) float32 -> (T, P // 2 + 1) complex64.

    scipy.fft with one worker: as fast as torch's single-threaded FFT here, and it
    depends on no process-wide thread setting. torch.fft with its default intra-op
    threads was ~18x slower on these small batches (306 vs 5747 x real time on
    2 cores), a trap for any caller that had not set torch.set_num_threads(1).
    """
    return scipy.fft.rfft(buf, axis=1, workers=1)


def _log_energy(energy: np.ndarray, o: FbankOptions) -> np.ndarray:
    log_e = np.log(np.maximum(energy, _FLT_EPS))
    if o.energy_floor > 0.0:
        log_e = np.maximum(log_e, np.float32(math.log(o.energy_floor)))
    return log_e.astype(np.float32)


def _windows_to_fbank(
    buf: np.ndarray, o: FbankOptions, raw_energy: np.ndarray | None
) -> np.ndarray:
    """(T, padded) windowed frames -> (T, D) fbank (feature-fbank.cc Compute)."""
    if o.use_energy and raw_energy is None:
        raw_energy = np.einsum("ij,ij->i", buf, buf)
    spec = _rfft(buf)
    power = np.square(spec.real)
    power += np.square(spec.imag)
    if not o.use_power:
        np.sqrt(power, out=power)
    mel = power @ _mel_banks_cached(*_mel_key(o))
    if o.use_log_fbank:
        np.maximum(mel, _FLT_EPS, out=mel)
        np.log(mel, out=mel)
    if o.use_energy:
        mel = np.concatenate([_log_energy(raw_energy, o)[:, None], mel], axis=1)
    return mel


def _fbank_dim(o: FbankOptions) -> int:
    return o.num_mel_bins + int(o.use_energy)


# ---------------------------------------------------------------------------------
# Public feature API
# ---------------------------------------------------------------------------------


def compute_fbank(
    wav, sr: int, *, opts: FbankOptions | None = None, rng=None, **overrides
) -> np.ndarray:
    """Kaldi ``compute-fbank-feats``: log-mel filterbank energies.

    Args:
        wav: (N,) waveform, numpy array or torch tensor. Float input is taken to be
            in [-1, 1] and scaled by 32768, as Kaldi reads 16-bit PCM; integer input
            (int16) is used as sample values.
        sr: sample rate of ``wav`` in Hz; must equal ``sample_rate`` of the options.
        opts: base options (default :class:`FbankOptions`: 40 bins, 25/10 ms povey).
        rng: numpy Generator or seed for dither (only used when ``dither > 0``);
            None means seed 0, so repeated calls give identical features.
        **overrides: :class:`FbankOptions` fields, e.g. ``num_mel_bins=80``.

    Returns:
        (T, num_mel_bins) float32 natural-log mel energies (plus a leading log
        energy column when ``use_energy``), one frame every ``frame_shift_ms``
        (100 frames/s by default). T = 0 when ``wav`` is shorter than one frame
        (with ``snip_edges``).

    Raises:
        ValueError: ``sr`` differs from the options' sample rate, ``wav`` is not
            1-D, or an option is unknown or out of range.
    """
    o = fbank_options(opts, **overrides)
    x = _as_samples(wav, sr, o)
    t = num_frames(x.shape[0], o)
    if t == 0:
        return np.zeros((0, _fbank_dim(o)), dtype=np.float32)
    buf = np.zeros((t, o.padded_window_size), dtype=np.float32)
    raw_e = _fill_windows(x, t, o, buf, rng)
    return _windows_to_fbank(buf, o, raw_e)


def compute_fbank_batch(
    wavs: Sequence, sr: int, *, opts: FbankOptions | None = None, rng=None,
    max_frames: int = 1000, **overrides
) -> list[np.ndarray]:
    """:func:`compute_fbank` for many utterances, sharing FFT and matmul calls.

    Frames of consecutive utterances are packed into one (sum T_i, padded) buffer
    (at most ``max_frames`` frames per chunk, bounding memory) so the FFT, the mel
    product and the log run once per chunk rather than once per utterance.
    Results equal :func:`compute_fbank` per utterance up to float32 rounding
    (the batched matmul may round a value 1 ulp differently: ~2e-6 measured);
    with dither, the noise differs (one generator is shared across the batch).

    Args:
        wavs: sequence of (N_i,) waveforms, same rule as :func:`compute_fbank`.
        sr: sample rate in Hz of every waveform.

    Returns:
        list of (T_i, num_mel_bins) float32 arrays, in input order.
    """
    o = fbank_options(opts, **overrides)
    gen = _make_rng(rng) if o.dither > 0 else None
    xs = [_as_samples(w, sr, o) for w in wavs]
    counts = [num_frames(x.shape[0], o) for x in xs]
    out: list[np.ndarray] = [None] * len(xs)  # type: ignore[list-item]
    dim = _fbank_dim(o)
    i = 0
    while i < len(xs):
        j, total = i, 0
        while j < len(xs) and (j == i or total + counts[j] <= max_frames):
            total += counts[j]
            j += 1
        buf = np.zeros((total, o.padded_window_size), dtype=np.float32)
        energies, off = [], 0
        for k in range(i, j):
            if counts[k]:
                e = _fill_windows(xs[k], counts[k], o, buf[off:off + counts[k]], gen)
                energies.append(e)
            off += counts[k]
        raw_e = None
        if energies and energies[0] is not None:
            raw_e = np.concatenate(energies)
        feats = (_windows_to_fbank(buf, o, raw_e) if total
                 else np.zeros((0, dim), np.float32))
        off = 0
        for k in range(i, j):
            out[k] = feats[off:off + counts[k]]
            off += counts[k]
        i = j
    return out


@functools.lru_cache(maxsize=32)
def _dct_cached(num_ceps: int, num_bins: int) -> np.ndarray:
    # matrix-functions.cc ComputeDctMatrix: orthonormal DCT-II, rows = cepstra.
    k = np.arange(num_ceps, dtype=np.float64)[:, None]
    n = np.arange(num_bins, dtype=np.float64)[None, :]
    m = math.sqrt(2.0 / num_bins) * np.cos(math.pi / num_bins * (n + 0.5) * k)
    m[0, :] = math.sqrt(1.0 / num_bins)
    m.setflags(write=False)
    return m


def dct_matrix(num_ceps: int, num_bins: int) -> np.ndarray:
    """Kaldi ``ComputeDctMatrix`` rows 0..num_ceps-1: (num_ceps, num_bins) float64."""
    if not 0 < num_ceps <= num_bins:
        raise ValueError(f"need 0 < num_ceps <= num_bins, got {num_ceps}, {num_bins}")
    return _dct_cached(num_ceps, num_bins)


def lifter_coeffs(num_ceps: int, cepstral_lifter: float) -> np.ndarray:
    """Kaldi ``ComputeLifterCoeffs``: ``1 + Q/2 sin(pi i / Q)``, (num_ceps,) float64.

    ``cepstral_lifter == 0`` gives ones (no liftering), as in feature-mfcc.cc.
    """
    i = np.arange(num_ceps, dtype=np.float64)
    if cepstral_lifter == 0:
        return np.ones(num_ceps)
    q = float(cepstral_lifter)
    return 1.0 + 0.5 * q * np.sin(math.pi * i / q)


@functools.lru_cache(maxsize=32)
def _mfcc_matrix(num_bins: int, num_ceps: int, cepstral_lifter: float) -> np.ndarray:
    m = dct_matrix(num_ceps, num_bins).T * lifter_coeffs(num_ceps, cepstral_lifter)
    m = np.ascontiguousarray(m, dtype=np.float32)
    m.setflags(write=False)
    return m


def fbank_to_mfcc(
    fbank: np.ndarray, num_ceps: int = 13, cepstral_lifter: float = 22.0
) -> np.ndarray:
    """Log-mel filterbank -> MFCC, Kaldi feature-mfcc.cc with ``use_energy=False``.

    The one place the DCT lives: it turns computed and enhanced log-mel alike into
    cepstra. MFCC = liftered (``1 + Q/2 sin(pi i / Q)``) orthonormal DCT-II
    (``ComputeDctMatrix``) of the natural-log mel energies.

    Args:
        fbank: (T, num_mel_bins) log-mel, any float dtype (numpy or torch).
        num_ceps: number of cepstra kept (C0 included), <= num_mel_bins.
        cepstral_lifter: Kaldi ``--cepstral-lifter`` Q; 0 disables liftering.

    Returns:
        (T, num_ceps) float32.
    """
    if hasattr(fbank, "detach"):
        fbank = fbank.detach().cpu().numpy()
    f = np.asarray(fbank)
    if f.ndim != 2:
        raise ValueError(f"expected (T, num_mel_bins) log-mel, got shape {f.shape}")
    m = _mfcc_matrix(f.shape[1], int(num_ceps), float(cepstral_lifter))
    return np.asarray(f, dtype=np.float32) @ m


def compute_mfcc(
    wav, sr: int, num_ceps: int = 13, cepstral_lifter: float = 22.0, *,
    opts: FbankOptions | None = None, rng=None, **fbank_overrides
) -> np.ndarray:
    """Kaldi ``compute-mfcc-feats`` (``--use-energy=false`` by default).

    Exactly ``fbank_to_mfcc(compute_fbank(wav, sr, ...), num_ceps, cepstral_lifter)``
    (the fbank must be log: ``use_log_fbank`` is forced True). With
    ``use_energy=True`` in the overrides, C0 is replaced by the log frame energy
    after liftering, as Kaldi does.

    Args:
        wav, sr, opts, rng, **fbank_overrides: as :func:`compute_fbank`.
        num_ceps: cepstra per frame (13 for "mfcc", 40 for "mfcc_hires").
        cepstral_lifter: liftering coefficient Q (Kaldi default 22).

    Returns:
        (T, num_ceps) float32, 100 frames/s by default.
    """
    o = fbank_options(opts, **fbank_overrides)
    if not o.use_log_fbank:
        o = dataclasses.replace(o, use_log_fbank=True)
    fb = compute_fbank(wav, sr, opts=o, rng=rng)
    if not o.use_energy:
        return fbank_to_mfcc(fb, num_ceps, cepstral_lifter)
    ceps = fbank_to_mfcc(fb[:, 1:], num_ceps, cepstral_lifter)
    ceps[:, 0] = fb[:, 0]
    return ceps


# kind -> default keyword arguments of compute_mfcc ({} = plain fbank). Both MFCC
# kinds come from the same 40 mel bins (Kaldi conf/mfcc.conf, conf/mfcc_hires.conf
# style, with use_energy=false), so they are DCTs of the "fbank" features.
FEATURE_KINDS: dict[str, dict] = {
    "fbank": {},
    "mfcc": {"num_ceps": 13},
    "mfcc_hires": {"num_ceps": 40},
}


def _check_kind(kind: str) -> dict:
    if kind not in FEATURE_KINDS:
        raise ValueError(
            f"unknown feature kind {kind!r}; known: {sorted(FEATURE_KINDS)}"
        )
    return FEATURE_KINDS[kind]


def compute_features(wav, sr: int, kind: str = "fbank", **overrides) -> np.ndarray:
    """Features of a named kind: "fbank" (40), "mfcc" (13), "mfcc_hires" (40).

    ``overrides`` go to :func:`compute_fbank` (fbank options, ``opts``, ``rng``)
    and, for MFCC kinds, may also set ``num_ceps`` / ``cepstral_lifter``.

    Returns:
        (T, feature_dim(kind, **overrides)) float32.
    """
    fixed = _check_kind(kind)
    if kind == "fbank":
        return compute_fbank(wav, sr, **overrides)
    return compute_mfcc(wav, sr, **{**fixed, **overrides})


def feature_dim(kind: str = "fbank", **overrides) -> int:
    """Feature dimension of :func:`compute_features` for ``kind`` and overrides."""
    fixed = {**_check_kind(kind), **overrides}
    if kind == "fbank":
        fields = {f.name for f in dataclasses.fields(FbankOptions)}
        opts = fixed.pop("opts", None)
        o = fbank_options(opts, **{k: v for k, v in fixed.items() if k in fields})
        return _fbank_dim(o)
    return int(fixed["num_ceps"])


def compute_log_spectrogram(
    wav, sr: int, *, opts: FbankOptions | None = None, rng=None, **overrides
) -> np.ndarray:
    """Kaldi ``compute-spectrogram-feats``: log power spectrum, bin 0 = log energy.

    feature-spectrogram.cc: ``log(max(|X_k|^2, FLT_EPSILON))`` for k = 0..padded/2,
    then bin 0 (the DC power) is replaced by the log frame energy, raw (before
    pre-emphasis and window) by default, floored by ``energy_floor`` if > 0.
    Mel options are ignored.

    Returns:
        (T, padded_window_size // 2 + 1) float32, i.e. (T, 257) at 16 kHz.
    """
    o = fbank_options(opts, **overrides)
    o = dataclasses.replace(o, use_energy=True)  # energy always goes in bin 0
    x = _as_samples(wav, sr, o)
    t = num_frames(x.shape[0], o)
    nbins = o.padded_window_size // 2 + 1
    if t == 0:
        return np.zeros((0, nbins), dtype=np.float32)
    buf = np.zeros((t, o.padded_window_size), dtype=np.float32)
    raw_e = _fill_windows(x, t, o, buf, rng)
    energy = raw_e if raw_e is not None else np.einsum("ij,ij->i", buf, buf)
    spec = _rfft(buf)
    sq = spec.view(np.float32).reshape(t, nbins, 2)
    power = np.einsum("ijk,ijk->ij", sq, sq)
    np.maximum(power, _FLT_EPS, out=power)
    np.log(power, out=power)
    power[:, 0] = _log_energy(energy, o)
    return power


# ---------------------------------------------------------------------------------
# CMVN (Kaldi compute-cmvn-stats / apply-cmvn, transform/cmvn.cc)
# ---------------------------------------------------------------------------------


def cmvn_stats(feats: np.ndarray) -> np.ndarray:
    """Kaldi CMVN stats of (T, D) features: (2, D + 1) float64.

    Row 0 = per-dim sum of frames with the frame count in the last column; row 1 =
    per-dim sum of squares, last column 0 (``AccCmvnStats``).
    """
    f = np.asarray(feats, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"expected (T, D) features, got shape {f.shape}")
    stats = np.zeros((2, f.shape[1] + 1), dtype=np.float64)
    stats[0, :-1] = f.sum(axis=0)
    stats[0, -1] = f.shape[0]
    stats[1, :-1] = np.einsum("ij,ij->j", f, f)
    return stats


def add_cmvn_stats(*stats: np.ndarray) -> np.ndarray:
    """Sum of (2, D + 1) CMVN stats, e.g. to pool utterances per speaker."""
    if not stats:
        raise ValueError("add_cmvn_stats needs at least one stats matrix")
    total = np.array(stats[0], dtype=np.float64)
    for s in stats[1:]:
        s = np.asarray(s, dtype=np.float64)
        if s.shape != total.shape:
            raise ValueError(f"CMVN stats shapes differ: {total.shape} vs {s.shape}")
        total += s
    return total


def apply_cmvn(
    feats: np.ndarray, stats: np.ndarray, norm_vars: bool = False,
    norm_means: bool = True
) -> np.ndarray:
    """Kaldi ``apply-cmvn`` (``ApplyCmvn``): subtract the mean, optionally scale.

    Args:
        feats: (T, D) features.
        stats: (2, D + 1) stats from :func:`cmvn_stats` / :func:`add_cmvn_stats`.
        norm_vars: also divide by the standard deviation; the variance is floored
            at 1e-20 as Kaldi does.
        norm_means: False with norm_vars False returns the features unchanged
            (Kaldi refuses norm_vars without norm_means).

    Returns:
        (T, D) normalised features, dtype of ``feats`` if floating else float32.

    Raises:
        ValueError: shapes disagree, the count is < 1, or norm_vars without
            norm_means.
    """
    f = np.asarray(feats)
    s = np.asarray(stats, dtype=np.float64)
    if f.ndim != 2 or s.shape != (2, f.shape[1] + 1):
        raise ValueError(f"stats of shape {s.shape} do not fit features {f.shape}")
    out_dtype = f.dtype if np.issubdtype(f.dtype, np.floating) else np.float32
    if not norm_means:
        if norm_vars:
            raise ValueError("norm_vars=True requires norm_means=True (as Kaldi)")
        return f.astype(out_dtype, copy=True)
    count = s[0, -1]
    if count < 1.0:
        raise ValueError(f"insufficient CMVN stats: frame count {count}")
    mean = s[0, :-1] / count
    if norm_vars:
        var = np.maximum(s[1, :-1] / count - mean * mean, 1e-20)
        scale = 1.0 / np.sqrt(var)
        offset = -mean * scale
        return (f * scale + offset).astype(out_dtype)
    return (f - mean).astype(out_dtype)


# ---------------------------------------------------------------------------------
# ark/scp (kaldiio)
# ---------------------------------------------------------------------------------
