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


# ------------------------------------------------------------------- CHiME-2
def _stereo_wav(path, seed: int) -> None:
    """A tiny binaural 16 kHz 16-bit wav: left and right channels differ."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    n = 800
    left = 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 16000)
    right = 0.2 * rng.standard_normal(n).clip(-1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="PCM_16")


@pytest.fixture(scope="session")
def chime2_grid_root(tmp_path_factory):
    """A fake CHiME-2 Track 1 package root (``<root>/data/chime2-grid/...``).

    train: id1/bbaf2n (and an upper-case BBAF2N.WAV in isolated/), id12/sgwczp;
    devel: s1_bbaf2n and s3_lrib0s in clean, reverberated and isolated/{m6dB,0dB,9dB};
    test:  s2_pwbz1a in reverberated and isolated/3dB, plus s2_bbxxxx.wav (a bad
    GRID code: no transcript); unexpected folders train/notes and backup/.
    """
    root = tmp_path_factory.mktemp("chime2_grid")
    g = root / "data" / "chime2-grid"
    files = [
        "train/clean/id1/bbaf2n.wav", "train/clean/id12/sgwczp.wav",
        "train/reverberated/id1/bbaf2n.wav", "train/reverberated/id12/sgwczp.wav",
        "train/isolated/id1/BBAF2N.WAV", "train/isolated/id12/sgwczp.wav",
        "devel/clean/s1_bbaf2n.wav", "devel/clean/s3_lrib0s.wav",
        "devel/reverberated/s1_bbaf2n.wav", "devel/reverberated/s3_lrib0s.wav",
        "test/reverberated/s2_pwbz1a.wav",
        "test/isolated/3dB/s2_pwbz1a.wav", "test/isolated/3dB/s2_bbxxxx.wav",
        "train/notes/id1/bbaf2n.wav", "backup/id1/bbaf2n.wav",
    ]  # fmt: skip
    files += [f"devel/isolated/{snr}/s{n}_{c}.wav" for snr in ("m6dB", "0dB", "9dB")
              for n, c in ((1, "bbaf2n"), (3, "lrib0s"))]  # fmt: skip
    for i, f in enumerate(files):
        _stereo_wav(g / f, i)
    (g / "train" / "README.txt").write_text("not audio\n")
    return root


@pytest.fixture(scope="session")
def chime2_wsj0_roots(tmp_path_factory):
    """``(chime2_root, wsj0_root)``: a fake CHiME-2 Track 2 package and WSJ0 copy.

    Two layouts mixed (set above or below the SNR folder, an upper-case file);
    011c0202 has no .dot transcript; an unexpected folder ``scaled_backup``.
    """
    root = tmp_path_factory.mktemp("chime2_wsj0")
    c2 = root / "chime2" / "data" / "chime2-wsj0"
    files = [
        "reverberated/si_tr_s/011/011c0201.wav",
        "reverberated/si_tr_s/011/011c0202.wav",
        "isolated/si_tr_s/9dB/011/011c0201.wav",
        "isolated/si_tr_s/m6dB/011/011c0202.wav",
        "reverberated/si_dt_05/050/050c0101.wav",
        "isolated/6dB/si_dt_05/050/050C0101.WAV",
        "isolated/m3dB/si_dt_05/050/050c0101.wav",
        "isolated/si_et_05/0dB/440/440c0201.wav",
        "scaled_backup/si_tr_s/011/011c0201.wav",
    ]  # fmt: skip
    for i, f in enumerate(files):
        _stereo_wav(c2 / f, 100 + i)
    wsj0 = root / "wsj0"
    dots = {
        "wsj0/transcrp/dots/si_tr_s/011/011c0201.dot":
            "Of course there isn\\'t any [loud_breath] guarantee <and> it . "
            "[door_slam>] works (011c0201)\n",
        "WSJ0/SI_DT_05/050/050C0101.DOT": "The %PERCENT rose ~ (050C0101)\n",
        "wsj0/si_et_05/440/440c0201.dot":
            "Hello --DASH world [phone_ring/] (440c0201)\nBye (440c0202)\n",
    }  # fmt: skip
    for rel, text in dots.items():
        (wsj0 / rel).parent.mkdir(parents=True, exist_ok=True)
        (wsj0 / rel).write_text(text)
    return root / "chime2", wsj0
