"""Reading audio named by ``wav.scp`` entries.

An entry is a file path, or a Kaldi pipe ``"<shell command> |"`` whose standard
output is a wav/flac stream (e.g. ``sph2pipe -f wav x.wv1 |``). Samples come back as
``float32`` in ``[-1, 1)``; for 16-bit PCM that is ``int16 / 32768`` exactly, so
:func:`pipeline.features.compute_fbank` recovers Kaldi's 16-bit sample values.
"""

from __future__ import annotations

import io
import logging
import subprocess
from pathlib import Path

import numpy as np
import soundfile

logger = logging.getLogger(__name__)

_warned_channel: list[bool] = []  # log the channel default once per process


class AudioError(Exception):
    """An audio entry could not be read as asked; the message names the entry."""


def _open(entry: str):
    entry = entry.strip()
    if entry.endswith("|"):
        cmd = entry[:-1].strip()
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", cmd], capture_output=True, check=False
        )
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip()[-500:]
            raise AudioError(f"pipe '{cmd}' exited {proc.returncode}: {err}")
        return io.BytesIO(proc.stdout), cmd
    if not Path(entry).is_file():
        raise AudioError(f"audio file not found: {entry}")
    return entry, entry


def read_audio(
    entry: str,
    *,
    channel: int | str = 0,
    sample_rate: int | None = None,
    resample: bool = False,
    start: float | None = None,
    end: float | None = None,
) -> tuple[np.ndarray, int]:
    """Read one ``wav.scp`` entry.

    Args:
        entry: a path, or a shell pipe ending in ``|``.
        channel: channel index for multi-channel audio, or ``"mean"``. The default
            0 matches Kaldi's ``--channel=-1`` behaviour (first channel), and is
            logged once per process when the audio has several channels.
        sample_rate: the rate the caller expects (Hz); ``None`` accepts any.
        resample: resample (soxr, high quality) to ``sample_rate`` instead of
            raising when the rates differ.
        start, end: optional segment bounds in seconds (``segments`` file).

    Returns:
        ``(wav, sr)``: ``wav`` is ``(N,)`` float32 in [-1, 1), ``sr`` in Hz.

    Raises:
        AudioError: missing file, failing pipe, unreadable data, bad channel, or
            a rate mismatch without ``resample``.
    """
    src, name = _open(entry)
    try:
        data, sr = soundfile.read(src, dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - libsndfile errors have several types
        raise AudioError(f"cannot read audio {name}: {e}") from e
    n_ch = data.shape[1]
    if channel == "mean":
        wav = data.mean(axis=1)
    else:
        ch = int(channel)
        if not 0 <= ch < n_ch:
            raise AudioError(f"{name} has {n_ch} channel(s); channel {ch} requested")
        if n_ch > 1 and ch == 0 and not _warned_channel:
            logger.info(
                "%s has %d channels; using channel 0 (as Kaldi does). "
                "Choose another with --channel.", name, n_ch,
            )  # fmt: skip
            _warned_channel.append(True)
        wav = data[:, ch]
    if start is not None or end is not None:
        a = int(round((start or 0.0) * sr))
        b = len(wav) if end is None else int(round(end * sr))
        if b > len(wav) + int(0.01 * sr):
            raise AudioError(
                f"segment {start}-{end} s is past the end of {name} "
                f"({len(wav) / sr:.3f} s)"
            )
        wav = wav[a:b]
    if sample_rate is not None and sr != sample_rate:
        if not resample:
            raise AudioError(
                f"{name} has sample rate {sr} Hz, expected {sample_rate} Hz "
                "(pass --resample to convert)"
            )
        import soxr

        wav = soxr.resample(wav, sr, sample_rate, quality="HQ").astype(np.float32)
        sr = sample_rate
    return np.ascontiguousarray(wav, dtype=np.float32), sr


def active_level_db(x: np.ndarray, fs: int = 16000) -> float:
    """Active speech level of ``x`` (``(T,)`` float, full scale 1.0) in dB re full
    scale (dBFS of a full-scale sine's RMS convention: ``10 log10(mean x^2)``),
    after ITU-T P.56 method B: a two-stage 30 ms envelope with 200 ms hangover,
    thresholds in 2 dB steps, and the level where the active level is 15.9 dB
    above its activity threshold (interpolated). Silence between and around words
    does not count, so the figure is independent of how much padding a file has.
    Returns ``-inf`` for an all-zero signal.
    """
    from scipy.ndimage import maximum_filter1d
    from scipy.signal import lfilter

    x = np.asarray(x, dtype=np.float64)
    energy = float(np.sum(x**2))
    if energy == 0.0:
        return float("-inf")
    g = np.exp(-1.0 / (0.03 * fs))
    env = lfilter([1 - g], [1, -g], lfilter([1 - g], [1, -g], np.abs(x)))
    half = int(round(0.1 * fs))  # hangover H = 2 * half samples (200 ms)
    # envelope held over the hangover: held[n] = max(env[n-H .. n])
    padded = np.concatenate([np.zeros(2 * half), env])
    held = maximum_filter1d(padded, size=2 * half + 1)[half: half + len(env)]
    margin = 15.9  # dB, P.56's M
    top = 20 * np.log10(np.max(held) + 1e-30)
    thr_db = np.arange(top - 100.0, top + 1e-9, 2.0)  # rising thresholds
    n_act = np.array([np.count_nonzero(held >= 10 ** (c / 20)) for c in thr_db])
    diff = 10 * np.log10(energy / np.maximum(n_act, 1)) - thr_db
    # low thresholds count nearly everything as active: diff is large there and
    # falls as the threshold rises; the level is at its first crossing of M
    below = np.nonzero(diff < margin)[0]
    if len(below) == 0 or below[0] == 0:
        return float(10 * np.log10(energy / len(x)))
    j = int(below[0])
    f = (diff[j - 1] - margin) / (diff[j - 1] - diff[j])
    c = thr_db[j - 1] + f * (thr_db[j] - thr_db[j - 1])
    return float(c + margin)
