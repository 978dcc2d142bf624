"""Tests of CHiME-2 data preparation on fake corpus trees (see conftest.py)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from data_prep.chime2 import (
    normalize_wsj_transcript,
    prepare_chime2_grid,
    prepare_chime2_wsj0,
    read_mlf,
    snr_tag,
)
from pipeline.audio import read_audio
from pipeline.datadir import DataDir, DataDirError

REPO = Path(__file__).resolve().parents[2]


def _load(dirs, name) -> DataDir:
    return DataDir.load(dirs[name]).validate(check_feats=False)


# ------------------------------------------------------------------ Track 1
def test_grid_dirs(chime2_grid_root, tmp_path, caplog):
    with caplog.at_level(logging.DEBUG, logger="data_prep.chime2"):
        dirs = prepare_chime2_grid(chime2_grid_root, tmp_path)
    assert set(dirs) == {
        "train_grid_clean", "train_grid_reverb", "train_grid_noisy",
        "devel_grid_clean", "devel_grid_reverb", "devel_grid_noisy",
        "devel_grid_noisy_m6dB", "devel_grid_noisy_0dB", "devel_grid_noisy_9dB",
        "test_grid_reverb", "test_grid_noisy", "test_grid_noisy_3dB",
    }  # fmt: skip
    assert all(p == tmp_path / n for n, p in dirs.items())

    # train: speaker from id<N>, zero-padded; upper-case file name found; parallel ids
    for cond in ("clean", "reverb", "noisy"):
        d = _load(dirs, f"train_grid_{cond}")
        assert d.utts == ["s01_bbaf2n", "s12_sgwczp"]
        assert d.utt2spk == {"s01_bbaf2n": "s01", "s12_sgwczp": "s12"}
        assert d.text["s12_sgwczp"] == "set green with c zero please"
        assert set(d.utt2cond.values()) == {cond}
    assert _load(dirs, "train_grid_noisy").wav_scp["s01_bbaf2n"].endswith("BBAF2N.WAV")
    assert _load(dirs, "train_grid_noisy").utt2snr is None  # no SNR folder in train
    assert (tmp_path / "train_grid_clean" / "utt2snr").exists() is False

    # devel: speaker from s<N>_; per-SNR dirs keep plain (parallel) ids
    d = _load(dirs, "devel_grid_noisy_m6dB")
    assert d.utts == ["s01_bbaf2n", "s03_lrib0s"]
    assert d.utt2snr == {"s01_bbaf2n": -6.0, "s03_lrib0s": -6.0}
    assert d.text["s03_lrib0s"] == "lay red in b zero soon"
    assert d.utts == _load(dirs, "devel_grid_reverb").utts
    # the all-SNR dir holds each utterance 3 times: ids get the SNR suffix
    d = _load(dirs, "devel_grid_noisy")
    assert len(d) == 6
    assert d.utt2snr["s01_bbaf2n_m6dB"] == -6.0 and d.utt2snr["s01_bbaf2n_9dB"] == 9.0
    assert d.text["s01_bbaf2n_0dB"] == "bin blue at f two now"
    assert d.utt2spk["s03_lrib0s_0dB"] == "s03"

    # test: one SNR only, so no suffix; the bad code is skipped and counted
    d = _load(dirs, "test_grid_noisy")
    assert d.utts == ["s02_pwbz1a"] and d.utt2snr == {"s02_pwbz1a": 3.0}
    assert d.text["s02_pwbz1a"] == "place white by z one again"
    warn = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warn) == 1 and "skipped 1 utterances" in warn[0]
    assert "without transcript" in warn[0] and "s2_bbxxxx.wav" in warn[0]
    # unexpected folders: ignored (debug), never in a data dir
    debug = " ".join(r.getMessage() for r in caplog.records
                     if r.levelno == logging.DEBUG)  # fmt: skip
    assert "notes" in debug and "backup" in debug
    for name in dirs:
        assert not any("notes" in w or "backup" in w
                       for w in _load(dirs, name).wav_scp.values())  # fmt: skip
        assert (dirs[name] / "channel").read_text() == "left\n"


def test_grid_mlf(chime2_grid_root, tmp_path):
    mlf = tmp_path / "allids.mlf"
    mlf.write_text('#!MLF!#\n"*/s1_bbaf2n.lab"\nsil\nBIN\nblue\nat\nf\ntwo\nnow\n'
                   'sil\n.\n'
                   '"*/id12/sgwczp.lab"\n0 100 set\n100 200 green\n200 300 with\n'
                   '300 400 c\n400 500 zero\n500 600 please\n.\n')  # fmt: skip
    assert read_mlf(mlf)[("s01", "bbaf2n")] == "bin blue at f two now"
    dirs = prepare_chime2_grid(chime2_grid_root, tmp_path / "out", mlf=mlf)
    d = _load(dirs, "train_grid_reverb")
    assert d.text == {"s01_bbaf2n": "bin blue at f two now",
                      "s12_sgwczp": "set green with c zero please"}  # fmt: skip
    # s3_lrib0s is not in the MLF: skipped; s01_bbaf2n matched from the s1_ pattern
    assert _load(dirs, "devel_grid_reverb").utts == ["s01_bbaf2n"]
    assert "test_grid_reverb" not in dirs  # s2_pwbz1a has no label


@pytest.mark.parametrize("channel", ["left", "right", "mean"])
def test_grid_channel(chime2_grid_root, tmp_path, channel):
    dirs = prepare_chime2_grid(chime2_grid_root, tmp_path, channel=channel)
    d = _load(dirs, "devel_grid_reverb")
    entry = d.wav_scp["s01_bbaf2n"]
    stereo, sr = sf.read(entry, dtype="float32", always_2d=True)
    assert sr == 16000 and stereo.shape[1] == 2
    assert not np.allclose(stereo[:, 0], stereo[:, 1])
    wav, _ = read_audio(entry, channel=DataDir.load(dirs["devel_grid_reverb"]).audio_channel)
    want = {"left": stereo[:, 0], "right": stereo[:, 1],
            "mean": stereo.mean(axis=1)}[channel]  # fmt: skip
    np.testing.assert_allclose(wav, want, atol=1e-6)


def test_grid_errors(tmp_path, chime2_grid_root):
    with pytest.raises(DataDirError) as e:
        prepare_chime2_grid(tmp_path / "nowhere", tmp_path / "out")
    assert str(tmp_path / "nowhere") in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataDirError) as e:
        prepare_chime2_grid(tmp_path / "empty", tmp_path / "out")
    assert str(tmp_path / "empty" / "data" / "chime2-grid" / "train" / "reverberated") \
        in str(e.value)  # fmt: skip
    with pytest.raises(DataDirError) as e:
        prepare_chime2_grid(chime2_grid_root, tmp_path / "out", mlf=tmp_path / "x.mlf")
    assert str(tmp_path / "x.mlf") in str(e.value)
    with pytest.raises(ValueError):
        prepare_chime2_grid(chime2_grid_root, tmp_path / "out", channel="centre")
    assert not (tmp_path / "out").exists()


def test_grid_root_is_corpus_folder(chime2_grid_root, tmp_path):
    """The chime2-grid folder itself is accepted as root (copies differ)."""
    a = prepare_chime2_grid(chime2_grid_root, tmp_path / "a")
    b = prepare_chime2_grid(chime2_grid_root / "data" / "chime2-grid", tmp_path / "b")
    assert set(a) == set(b)
    for name in a:
        assert (a[name] / "text").read_text() == (b[name] / "text").read_text()


# ------------------------------------------------------------------ Track 2
def test_normalize_wsj_transcript():
    n = normalize_wsj_transcript
    assert n("Of course there isn\\'t any [loud_breath] guarantee") == \
        "OF COURSE THERE ISN'T ANY <NOISE> GUARANTEE"  # fmt: skip
    assert n("<and> the . ~ [<door_slam] x [door_slam>] [phone_ring/] y "
             "[/phone_ring]") == "AND THE X Y"  # fmt: skip
    assert n("%PERCENT .POINT --DASH") == "PERCENT POINT -DASH"
    assert n("[loud_breath]", noise_word="<SPN>") == "<SPN>"


def test_wsj0_dirs(chime2_wsj0_roots, tmp_path, caplog):
    chime2, wsj0 = chime2_wsj0_roots
    with caplog.at_level(logging.DEBUG, logger="data_prep.chime2"):
        dirs = prepare_chime2_wsj0(chime2, wsj0, tmp_path, channel="right")
    assert set(dirs) == {
        "train_si84_reverb", "train_si84_noisy",
        "dev_dt_05_reverb", "dev_dt_05_noisy", "dev_dt_05_noisy_6dB",
        "dev_dt_05_noisy_m3dB", "test_eval92_5k_noisy", "test_eval92_5k_noisy_0dB",
    }  # fmt: skip
    text = "OF COURSE THERE ISN'T ANY <NOISE> GUARANTEE AND IT WORKS"
    d = _load(dirs, "train_si84_reverb")  # 011c0202 has no transcript: skipped
    assert d.text == {"011c02011": text} and d.utt2spk == {"011c02011": "011"}
    assert d.utt2snr is None and d.utt2cond == {"011c02011": "reverb"}
    d = _load(dirs, "train_si84_noisy")
    assert d.text == {"011c02012": text} and d.utt2snr == {"011c02012": 9.0}
    d = _load(dirs, "dev_dt_05_noisy")  # the upper-case file and .DOT are found
    assert d.utts == ["050c01013", "050c01016"]
    assert d.utt2snr == {"050c01013": 6.0, "050c01016": -3.0}
    assert d.text["050c01013"] == "THE PERCENT ROSE"
    assert _load(dirs, "dev_dt_05_noisy_m3dB").utts == ["050c01016"]
    assert _load(dirs, "dev_dt_05_reverb").utts == ["050c01011"]
    d = _load(dirs, "test_eval92_5k_noisy_0dB")
    assert d.text == {"440c02015": "HELLO -DASH WORLD"}
    for name in dirs:
        assert DataDir.load(dirs[name]).audio_channel == 1
        assert not any("scaled_backup" in w for w in _load(dirs, name).wav_scp.values())
    warn = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warn) == 1 and "skipped 2 utterances" in warn[0]  # 011c0202 twice
    assert "without transcript" in warn[0]
    assert any("scaled_backup" in r.getMessage() for r in caplog.records)


def test_wsj0_errors(chime2_wsj0_roots, tmp_path):
    chime2, wsj0 = chime2_wsj0_roots
    with pytest.raises(DataDirError) as e:
        prepare_chime2_wsj0(tmp_path / "nowhere", wsj0, tmp_path / "out")
    assert str(tmp_path / "nowhere") in str(e.value)
    (tmp_path / "c2" / "data" / "other").mkdir(parents=True)
    with pytest.raises(DataDirError) as e:
        prepare_chime2_wsj0(tmp_path / "c2", wsj0, tmp_path / "out")
    assert str(tmp_path / "c2" / "data" / "chime2-wsj0" / "isolated") in str(e.value)
    with pytest.raises(DataDirError) as e:
        prepare_chime2_wsj0(chime2, tmp_path / "c2", tmp_path / "out")
    assert str(tmp_path / "c2") in str(e.value) and ".dot" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_snr_tag():
    assert snr_tag("m6dB") == ("m6dB", -6) and snr_tag("9DB") == ("9dB", 9)
    assert snr_tag("0dB") == ("0dB", 0) and snr_tag("isolated") is None


# --------------------------------------------------------------------- CLI
def test_cli(chime2_grid_root, chime2_wsj0_roots, tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "data_prep", *args], cwd=REPO,
                              capture_output=True, text=True)  # fmt: skip

    for verb in ("chime2-grid", "chime2-wsj0"):
        r = run(verb, "--help")
        assert r.returncode == 0 and "--channel" in r.stdout
    assert "chime2-grid" in run("--help").stdout
    r = run("chime2-grid", str(chime2_grid_root), str(tmp_path / "g"),
            "--channel", "mean")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "g" / "devel_grid_noisy_9dB" / "channel").read_text() == "mean\n"
    r = run("chime2-wsj0", *map(str, chime2_wsj0_roots), str(tmp_path / "w"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "w" / "train_si84_noisy" / "text").is_file()
    r = run("chime2-grid", str(tmp_path / "missing"), str(tmp_path / "x"))
    assert r.returncode == 1 and str(tmp_path / "missing") in r.stderr
    assert run("chime2-grid", str(tmp_path), "--channel", "centre").returncode == 2
