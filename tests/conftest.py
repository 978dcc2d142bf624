"""Synthetic fixtures: tiny wavs and Kaldi data dirs made with numpy (no blobs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from pipeline.datadir import DataDir


def write_wav(path: Path, seconds: float = 0.5, sr: int = 16000, channels: int = 1,
              seed: int = 0) -> Path:  # fmt: skip
    """A speech-like test signal: harmonics of a gliding f0, amplitude-modulated,
    plus a little noise; 16-bit PCM."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 40 * np.sin(2 * np.pi * 1.5 * t) + 20 * seed % 80
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 12))
    x *= 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    x = 0.2 * x / np.abs(x).max() + 0.005 * rng.standard_normal(len(t))
    if channels > 1:
        x = np.stack([x * (0.5 + 0.5 * c) for c in range(channels)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, x, sr, subtype="PCM_16")
    return path


def make_datadir(root: Path, n_spk: int = 2, n_utt: int = 3, sr: int = 16000,
                 name: str = "data", channels: int = 1) -> Path:  # fmt: skip
    """A valid data dir ``root/name`` with ``n_spk * n_utt`` utterances."""
    words = "bin blue at f two now lay green by a one again".split()
    wav_scp, text, utt2spk = {}, {}, {}
    for s in range(n_spk):
        spk = f"spk{s + 1:02d}"
        for u in range(n_utt):
            utt = f"{spk}_u{u:03d}"
            seed = s * 100 + u
            wav_scp[utt] = str(write_wav(root / "wav" / f"{utt}.wav",
                                         seconds=0.3 + 0.1 * u, sr=sr,
                                         channels=channels, seed=seed))  # fmt: skip
            text[utt] = " ".join(words[(seed + i) % len(words)] for i in range(4))
            utt2spk[utt] = spk
    out = root / name
    DataDir(wav_scp=wav_scp, text=text, utt2spk=utt2spk).save(out)
    return out


@pytest.fixture
def datadir(tmp_path) -> Path:
    return make_datadir(tmp_path)
