"""recipes/chime2/run.sh stages 0-1 on fake CHiME-2 trees (tests/conftest.py):
prepared dirs validate, features are computed from the chosen channel, and bad
invocations are usage errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np

from pipeline.audio import read_audio
from pipeline.datadir import DataDir
from pipeline.features import compute_fbank

REPO = Path(__file__).resolve().parents[2]


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(["bash", str(root / "recipes/chime2/run.sh"), *args],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip


def _copy_recipes(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "recipes", tmp_path / "recipes",
                    ignore=shutil.ignore_patterns("data*", "exp*", "corpus"))  # fmt: skip
    return tmp_path


def test_track1_stages_0_1(tmp_path, chime2_grid_root):
    root = _copy_recipes(tmp_path)
    r = _run(root, "--track", "1", "--chime2-root", str(chime2_grid_root),
             "--channel", "right", "--stop-stage", "1")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    data = root / "recipes/chime2/data_track1"
    dirs = sorted(p for p in data.iterdir() if (p / "utt2spk").is_file())
    assert {p.name for p in dirs} >= {"train_grid_clean", "test_grid_noisy_3dB"}
    for p in dirs:
        d = DataDir.load(p).validate()
        assert d.channel == "right"
    d = DataDir.load(data / "test_grid_noisy_3dB")
    utt = d.utts[0]
    wav, sr = read_audio(d.wav_scp[utt], channel=1)
    np.testing.assert_array_equal(kaldiio.load_mat(d.feats_scp[utt]),
                                  compute_fbank(wav, sr))  # fmt: skip


def test_track2_stages_0_1(tmp_path, chime2_wsj0_roots):
    chime2_root, wsj0_root = chime2_wsj0_roots
    root = _copy_recipes(tmp_path)
    r = _run(root, "--track", "2", "--chime2-root", str(chime2_root),
             "--wsj0-root", str(wsj0_root), "--stop-stage", "1")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    data = root / "recipes/chime2/data_track2"
    dirs = [p for p in data.iterdir() if (p / "feats.scp").is_file()]
    assert dirs and all(DataDir.load(p).validate() for p in dirs)


def test_usage_errors(tmp_path):
    root = _copy_recipes(tmp_path)
    assert _run(root, "--track", "3").returncode == 2
    assert _run(root, "--track", "1").returncode == 2  # no --chime2-root
    r = _run(root, "--track", "2", "--chime2-root", str(tmp_path))
    assert r.returncode == 2 and "wsj0-root" in r.stderr


def _grid_package(simgrid_dir: Path, root: Path) -> Path:
    """The quick simgrid corpus laid out as the CHiME-2 Track 1 package: binaural
    16-bit wavs in data/chime2-grid/{train,devel,test}/{clean,reverberated,isolated},
    train files id<N>/<code>.wav, devel/test files s<N>_<code>.wav, isolated
    devel/test under their SNR folder; no transcripts (they are in the codes)."""
    import soundfile as sf

    g = root / "data" / "chime2-grid"
    conds = {"clean": "clean", "reverb": "reverberated", "noisy": "isolated"}
    for split, csplit in (("train", "train"), ("dev", "devel"), ("test", "test")):
        names = [(f"{split}_{v}", c, None) for v, c in conds.items() if split == "train" or v != "noisy"]
        if split != "train":
            names += [(f"{split}_noisy_{t}", "isolated", t)
                      for t in ("m6dB", "m3dB", "0dB", "3dB", "6dB", "9dB")]
        for name, cond, snr in names:
            d = DataDir.load(simgrid_dir / name)
            for utt, wav in d.wav_scp.items():
                spk, code = utt.split("_")
                n = int(spk[2:])
                rel = (f"id{n}/{code}.wav" if split == "train" else f"s{n}_{code}.wav")
                out = g / csplit / cond / (snr or "") / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                x, sr = sf.read(wav, dtype="int16")
                sf.write(out, np.stack([x, x], 1), sr, subtype="PCM_16")
    return root


def test_track1_end_to_end_on_simgrid_laid_out_as_chime2(tmp_path):
    """Stages 0-6 of the Track 1 recipe on the quick simgrid corpus in CHiME-2's
    layout: Kaldi's data-dir names, a front-end, its AM, GRID-constrained decoding,
    keyword accuracy per SNR, and a clean AM that recognizes clean speech."""
    import json

    from data_prep.simgrid import prepare_simgrid

    dirs = prepare_simgrid(tmp_path / "simgrid", size="quick", seed=0, nj=2, progress=False)
    pkg = _grid_package(dirs["train_clean"].parent, tmp_path / "CHiME2")
    conf = tmp_path / "fe_conf"
    conf.mkdir()
    shutil.copy(REPO / "recipes/simgrid/conf/enhance_dnn_quick.yaml", conf / "enhance_dnn.yaml")
    root = _copy_recipes(tmp_path)
    simconf = root / "recipes/simgrid/conf"
    r = _run(root, "--track", "1", "--chime2-root", str(pkg), "--frontends", "dnn",
             "--enh-conf", str(conf), "--am-conf", str(simconf / "am_quick.yaml"),
             "--am-clean-conf", str(simconf / "am_clean_quick.yaml"))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    data = root / "recipes/chime2/data_track1"
    for name in ("train_grid_clean", "train_grid_noisy", "devel_grid_noisy_0dB",
                 "test_grid_noisy_m6dB", "test_grid_clean"):
        assert len(DataDir.load(data / name).validate()) > 0, name
    exp = root / "recipes/chime2/exp_track1"
    recs = json.loads((exp / "results.json").read_text())
    got = {(x["am"], x["frontend"], x["test_set"]): x for x in recs}
    assert got[("clean", "none", "test_grid_clean")]["wer"] <= 50.0
    kw = got[("mct_dnn", "dnn", "test_grid_noisy_m6dB")]
    assert kw["snr_db"] == -6.0 and kw["keyword_acc"] is not None
    meta = json.loads((exp / "mct/decode_none_test_grid_noisy_0dB/decode.json").read_text())
    assert meta["search"] == "grid-viterbi"
    assert (exp / "report.md").is_file()
