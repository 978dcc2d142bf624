"""Dry noise generators (before the room): babble, stationary coloured noise and
non-stationary transient noise. All return float64 ``(n,)`` signals at 16 kHz
with roughly unit RMS; the level is set later by the SNR.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

FS = 16000  # Hz
NOISE_TYPES = ("babble", "stationary", "transient")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x**2) + 1e-20))


def babble(rng: np.random.Generator, streams: list[np.ndarray], n: int) -> np.ndarray:
    """Multi-talker babble: 3-6 talkers, each a random length-``n`` segment of
    one talker's pre-synthesised stream (``streams``: per-talker ``(T_k,)``
    arrays at 16 kHz, unit RMS, T_k > n), with gains within +-3 dB.
    Talkers are drawn without replacement while the pool lasts."""
    k = int(rng.integers(3, 7))
    talkers = rng.choice(len(streams), size=k, replace=k > len(streams))
    out = np.zeros(n)
    for t in talkers:
        s = streams[t]
        start = int(rng.integers(0, len(s) - n))
        out += 10 ** (rng.uniform(-3, 3) / 20) * s[start:start + n]
    return out / _rms(out)


def stationary(rng: np.random.Generator, n: int) -> np.ndarray:
    """Gaussian noise with a random spectral tilt (-9 to +1.5 dB/octave, brown to
    slightly blue), 2-4 broad random spectral bumps (+-8 dB) and, with
    probability 0.4, mains hum (50 or 60 Hz with harmonics)."""
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n, 1 / FS)
    lf = np.log2(np.maximum(f, 20.0) / 1000.0)  # octaves re 1 kHz
    gain_db = rng.uniform(-9, 1.5) * lf
    for _ in range(int(rng.integers(2, 5))):
        gain_db += rng.uniform(-8, 8) * np.exp(
            -0.5 * ((lf - rng.uniform(-3, 2.5)) / rng.uniform(0.3, 1.2)) ** 2)
    x = np.fft.irfft(spec * 10 ** (gain_db / 20), n)
    x /= _rms(x)
    if rng.random() < 0.4:
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        t = np.arange(n) / FS
        hum = sum(rng.uniform(0.1, 1) / h * np.sin(2 * np.pi * f0 * h * t
                                                    + rng.uniform(0, 2 * np.pi))
                  for h in range(1, 12))
        x += 10 ** (rng.uniform(-10, 3) / 20) * hum / _rms(hum)
    return x / _rms(x)


def _envelope(n, attack, release):
    a = max(int(attack * FS), 1)
    env = np.ones(n)
    env[:a] = np.linspace(0, 1, a)
    r = min(max(int(release * FS), 1), n)
    env[-r:] *= np.linspace(1, 0, r)
    return env


def _knock(rng):
    # an impulse exciting 1-3 damped resonances (door, table, footstep)
    n = int(rng.uniform(0.08, 0.4) * FS)
    x = np.zeros(n)
    exc = rng.normal(size=int(rng.integers(2, 40)))
    out = np.zeros(n)
    for _ in range(int(rng.integers(1, 4))):
        f0 = rng.uniform(80, 2500)
        tau = rng.uniform(0.01, 0.08)  # s, decay time constant
        r = np.exp(-1 / (tau * FS))
        a = [1, -2 * r * np.cos(2 * np.pi * f0 / FS), r * r]
        x[:] = 0
        x[: len(exc)] = exc
        out += rng.uniform(0.3, 1) * lfilter([1], a, x)
    return out


def _click(rng):
    n = int(rng.uniform(0.001, 0.006) * FS)
    x = rng.normal(size=n) * np.exp(-np.arange(n) / (n / 3))
    return np.diff(x, prepend=0.0)  # high-passed: sharp clicks


def _burst(rng):
    # band-limited noise burst (rustle, spray, passing object)
    n = int(rng.uniform(0.05, 0.5) * FS)
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n, 1 / FS)
    fc, bw = rng.uniform(200, 5000), rng.uniform(0.5, 2.0)
    spec *= np.exp(-0.5 * (np.log2(np.maximum(f, 1) / fc) / bw) ** 2)
    x = np.fft.irfft(spec, n)
    return x * _envelope(n, rng.uniform(0.002, 0.05), rng.uniform(0.01, 0.2))


def _beep(rng):
    # electronic tone (phone, appliance, alarm), 1-4 harmonics
    n = int(rng.uniform(0.06, 0.4) * FS)
    t = np.arange(n) / FS
    f0 = rng.uniform(400, 3000)
    x = sum(rng.uniform(0, 1) ** h * np.sin(2 * np.pi * f0 * h * t)
            for h in range(1, int(rng.integers(2, 5))) if f0 * h < 7500)
    return np.asarray(x) * _envelope(n, 0.005, 0.01)


_EVENTS = (_knock, _click, _burst, _beep)


def transient(rng: np.random.Generator, n: int) -> np.ndarray:
    """Non-stationary noise: 1-4 events/s (knocks, clicks, noise bursts, beeps),
    levels within 20 dB of each other, over a quiet (-30 to -20 dB) coloured
    floor so that no segment is silent. Event times are Poisson."""
    out = 10 ** (rng.uniform(-30, -20) / 20) * stationary(rng, n)
    t = 0.0
    rate = rng.uniform(1.0, 4.0)
    weights = rng.dirichlet(np.ones(len(_EVENTS)))
    while True:
        t += rng.exponential(1 / rate)
        start = int(t * FS)
        if start >= n:
            break
        ev = _EVENTS[rng.choice(len(_EVENTS), p=weights)](rng)
        ev = ev[: n - start]
        peak = np.max(np.abs(ev))
        if peak > 0:
            out[start:start + len(ev)] += 10 ** (rng.uniform(-20, 0) / 20) * ev / peak
        if len(ev) == 0:
            break
    return out / _rms(out)


def make_noise(kind: str, rng: np.random.Generator, n: int,
               babble_streams: list[np.ndarray]) -> np.ndarray:
    """Dry noise of type ``kind`` (one of :data:`NOISE_TYPES`), ``(n,)`` float64."""
    if kind == "babble":
        return babble(rng, babble_streams, n)
    if kind == "stationary":
        return stationary(rng, n)
    if kind == "transient":
        return transient(rng, n)
    raise ValueError(f"unknown noise type {kind!r}, expected one of {NOISE_TYPES}")
