"""Shoebox rooms and their image-method RIRs (pyroomacoustics).

Each room has one microphone and two sources: the talker and a noise source
elsewhere in the room, so speech and noise share the room's acoustics but not
the path (as in CHiME-2, where noise was recorded in the same room).

Each RIR is kept whole (the fractional-delay kernel of its direct path included)
and scaled so the direct path has gain 1; it comes with the integer ``shift`` of
its direct path. :func:`apply_rir` convolves with the whole RIR and drops the
first ``shift`` *output* samples, as Kaldi's ``wav-reverberate --shift-output``
does, so reverberant speech is time-aligned (within half a sample) with, and at
the level of, the direct-path ("clean") signal. (Cutting the RIR at its peak
instead would drop the taps of the band-limited impulse before the peak: 4-7 dB
lost at 250 Hz in rooms whose delay falls near half a sample.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

FS = 16000  # Hz
T60_RANGE = (0.2, 0.9)  # s, nominal (Sabine) reverberation time
DIST_RANGE = (1.0, 4.0)  # m, source to microphone
_WALL_MARGIN = 0.5  # m, keep sources/mic this far from walls


class Rir(NamedTuple):
    """An RIR ``h`` (``(L,)`` float32, direct path at gain 1) and ``shift``, the
    sample index of its direct-path peak: output samples to drop after
    convolving (see :func:`apply_rir`)."""

    h: np.ndarray
    shift: int


def apply_rir(x: np.ndarray, rir: Rir, n: int | None = None) -> np.ndarray:
    """Reverberate ``x`` (``(T,)``) with the whole RIR and drop the first
    ``rir.shift`` output samples: ``(n,)`` (default ``T``), aligned with ``x``."""
    from scipy.signal import fftconvolve

    n = len(x) if n is None else int(n)
    y = fftconvolve(x, rir.h)[rir.shift: rir.shift + n]
    return np.pad(y, (0, n - len(y))) if len(y) < n else y


@dataclass
class Room:
    """Room geometry. Positions are (x, y, z) in metres."""

    dims: tuple[float, float, float]
    t60: float  # s, target reverberation time (met within ~5% by compute_rirs)
    mic: tuple[float, float, float]
    speech_pos: tuple[float, float, float]
    noise_pos: tuple[float, float, float]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["speech_dist"] = float(np.linalg.norm(np.subtract(self.speech_pos, self.mic)))
        d["noise_dist"] = float(np.linalg.norm(np.subtract(self.noise_pos, self.mic)))
        return d


def _source_at_distance(rng, dims, mic, dist_range, tries=1000):
    """A random point inside the room margins at a distance in ``dist_range``."""
    lo = np.full(3, _WALL_MARGIN)
    hi = np.asarray(dims) - _WALL_MARGIN
    lo[2], hi[2] = 1.0, min(2.0, dims[2] - _WALL_MARGIN)  # seated/standing heads
    for _ in range(tries):
        d = rng.uniform(*dist_range)
        v = rng.normal(size=3)
        v[2] *= 0.2  # mostly horizontal
        p = np.asarray(mic) + d * v / np.linalg.norm(v)
        if np.all(p >= lo) and np.all(p <= hi):
            return tuple(float(x) for x in p)
    raise RuntimeError("could not place a source in the room")  # not reached


def sample_room(rng: np.random.Generator, t60_range=T60_RANGE,
                dist_range=DIST_RANGE) -> Room:  # fmt: skip
    """Draw a room: 4-9 x 3-7 x 2.5-3.5 m, T60 uniform in ``t60_range``,
    talker-mic and noise-mic distances uniform in ``dist_range`` (m)."""
    dims = (rng.uniform(4.5, 9.0), rng.uniform(4.5, 7.0), rng.uniform(2.5, 3.5))
    t60 = rng.uniform(*t60_range)
    # mic near the centre so that 1-4 m distances fit in most directions
    mic = tuple(float(rng.uniform(0.4, 0.6) * d) for d in dims[:2]) + (
        float(rng.uniform(1.0, 1.5)),)
    speech = _source_at_distance(rng, dims, mic, dist_range)
    noise = _source_at_distance(rng, dims, mic, dist_range)
    return Room(tuple(float(d) for d in dims), float(t60), mic, speech, noise)


def compute_rirs(room: Room, fs: int = FS) -> tuple[Rir, Rir]:
    """Image-method RIRs (speech, noise) for ``room`` with T60 close to ``room.t60``.

    Sabine's formula (``pra.inverse_sabine``) overestimates absorption in these
    shoeboxes: the simulated decay came out ~1.1-1.5x longer than asked (T30 fit
    of the Schroeder curve). So the RIRs are simulated once, their T60 measured,
    and simulated again with the Sabine target scaled by target / measured; that
    lands within ~5% of ``room.t60`` (checked on random rooms).

    Returns two :class:`Rir` (speech, noise) at ``fs``: each starts at the first
    tap of its direct path's fractional-delay kernel (the propagation delay
    before it is all zeros), is scaled so the direct path has gain 1 and cut
    where the energy decay curve is 60 dB down; ``shift`` is where its direct
    path peaks.
    """
    import pyroomacoustics as pra

    rirs = _ism_rirs(room, room.t60, fs)
    measured = pra.experimental.measure_rt60(rirs[0].h, fs, decay_db=30)
    if measured > 0 and abs(measured / room.t60 - 1) > 0.05:
        rirs = _ism_rirs(room, room.t60 * room.t60 / measured, fs)
    return rirs


def _ism_rirs(room: Room, sabine_t60: float, fs: int) -> tuple[Rir, Rir]:
    """Aligned, unit-direct-path RIRs for the Sabine target ``sabine_t60`` (s)."""
    import pyroomacoustics as pra

    e_abs, max_order = pra.inverse_sabine(sabine_t60, room.dims)
    shoebox = pra.ShoeBox(list(room.dims), fs=fs, materials=pra.Material(e_abs),
                          max_order=max_order)
    shoebox.add_source(list(room.speech_pos))
    shoebox.add_source(list(room.noise_pos))
    shoebox.add_microphone(list(room.mic))
    shoebox.compute_rir()
    half = pra.constants.get("frac_delay_length") // 2
    c = shoebox.c
    out = []
    for s, pos in enumerate((room.speech_pos, room.noise_pos)):
        h = np.asarray(shoebox.rir[0][s], dtype=np.float64)
        dist = float(np.linalg.norm(np.subtract(pos, room.mic)))
        delay = dist / c * fs + half  # where the direct path's sinc peaks
        out.append(align_direct_path(h, delay, half))
    return out[0], out[1]


def align_direct_path(h: np.ndarray, delay: float, half: int) -> Rir:
    """Crop the all-zero propagation delay off ``h`` (keeping every tap of the
    direct path's fractional-delay kernel, ``half`` taps each side of its peak at
    fractional sample ``delay``), scale the direct path to gain 1 and cut the tail.
    """
    d0 = int(round(delay))
    start = max(d0 - half, 0)
    # pyroomacoustics scales the direct path by 1/(4 pi d) or 1/d depending
    # on version; read its gain from the windowed-sinc around the peak.
    gain = _direct_gain(h[start: d0 + half + 1], delay - start)
    return Rir(_cut_tail(h[start:] / gain).astype(np.float32), d0 - start)


def _direct_gain(win: np.ndarray, frac_pos: float) -> float:
    """Gain of a band-limited impulse located at ``frac_pos`` within ``win``,
    by least squares against an ideal sinc (later reflections arrive after the
    direct path, so only the part up to the peak is used)."""
    n = np.arange(len(win))
    mask = n <= frac_pos + 1
    ref = np.sinc(n[mask] - frac_pos)
    return float(np.dot(win[mask], ref) / np.dot(ref, ref))


def _cut_tail(h: np.ndarray, floor_db: float = -60.0) -> np.ndarray:
    """Truncate where the Schroeder energy decay curve drops below ``floor_db``."""
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-30)
    end = int(np.searchsorted(-edc_db, -floor_db))
    return h[: max(end, 1)]
