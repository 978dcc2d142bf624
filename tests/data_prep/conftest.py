"""Fixtures for data_prep tests: the quick simgrid corpus, built once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def simgrid_quick(tmp_path_factory):
    """Quick simgrid corpus (seed 0, nj=1): ``(out_dir, {name: data dir path})``."""
    from data_prep.simgrid import prepare_simgrid

    out = tmp_path_factory.mktemp("simgrid_quick")
    dirs = prepare_simgrid(out, size="quick", seed=0, nj=1, progress=False)
    return out, dirs


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
