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
