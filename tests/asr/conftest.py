"""Tiny synthetic feature data dirs for AM tests: each character of a GRID
sentence is rendered as a few frames of its own random 40-d pattern plus noise,
so a small CTC model learns them in seconds."""

from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest

from pipeline.grid import SLOTS
from pipeline.datadir import DataDir
from pipeline.features import add_cmvn_stats, cmvn_stats

ROOT = Path(__file__).resolve().parents[2]
QUICK_CONF = ROOT / "recipes" / "simgrid" / "conf" / "am_quick.yaml"


def make_feats_dir(root: Path, name: str, n_spk: int = 2, n_utt: int = 12,
                   seed: int = 0, ids_seed: int | None = None) -> Path:  # fmt: skip
    rng = np.random.default_rng(seed)
    protos = np.random.default_rng(123).normal(0, 2, (27, 40)).astype(np.float32)
    out = root / name
    (out / "data").mkdir(parents=True, exist_ok=True)
    text, utt2spk, wav, feats = {}, {}, {}, {}
    ids = np.random.default_rng(ids_seed if ids_seed is not None else seed)
    for s in range(n_spk):
        spk = f"spk{s}"
        for u in range(n_utt):
            words = [slot[ids.integers(len(slot))] for slot in SLOTS]
            utt = f"{spk}_{u:03d}"
            frames = [protos[26]] * 3
            for ch in " ".join(words):
                p = protos[26] if ch == " " else protos[ord(ch) - 97]
                frames += [p] * int(rng.integers(3, 5))
            frames += [protos[26]] * 3
            f = np.stack(frames) + rng.normal(0, 0.3, (len(frames), 40)) + s
            text[utt], utt2spk[utt], wav[utt] = " ".join(words), spk, "/dev/null"
            feats[utt] = f.astype(np.float32)
    scp, stats = {}, {}
    with kaldiio.WriteHelper(f"ark,scp:{out}/data/feats.ark,{out}/data/feats.scp") as w:
        for u in sorted(feats):
            w(u, feats[u])
            st = cmvn_stats(feats[u])
            spk = utt2spk[u]
            stats[spk] = add_cmvn_stats(stats[spk], st) if spk in stats else st
    for line in (out / "data" / "feats.scp").read_text().splitlines():
        k, v = line.split(maxsplit=1)
        scp[k] = v
    cmvn = {}
    with kaldiio.WriteHelper(f"ark,scp:{out}/data/cmvn.ark,{out}/data/cmvn.scp") as w:
        for spk in sorted(stats):
            w(spk, stats[spk])
    for line in (out / "data" / "cmvn.scp").read_text().splitlines():
        k, v = line.split(maxsplit=1)
        cmvn[k] = v
    DataDir(wav_scp=wav, text=text, utt2spk=utt2spk, feats_scp=scp, cmvn_scp=cmvn,
            utt2num_frames={u: len(f) for u, f in feats.items()}).save(out)  # fmt: skip
    kaldiio.save_mat(str(out / "cmvn_global.ark"), add_cmvn_stats(*stats.values()))
    return out


def tiny_config(tmp: Path, epochs: int = 3, **extra) -> Path:
    """am_quick.yaml with a small model and ``epochs`` epochs."""
    text = QUICK_CONF.read_text()
    repl = {"number_of_epochs": epochs, "max_batch_frames": 1500, "num_buckets": 2,
            "rnn_hidden": 48, "conv_channels": 48, "lr": 0.005, **extra}  # fmt: skip
    lines = []
    for ln in text.splitlines():
        key = ln.split(":", 1)[0]
        if not ln.startswith(" ") and key in repl:
            ln = f"{key}: {repl[key]}"
        lines.append(ln)
    p = tmp / f"am_tiny_{epochs}.yaml"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.fixture(scope="session")
def feats_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("asr_data")
    return {
        "train_clean": make_feats_dir(root, "train_clean", n_utt=30, seed=1),
        # parallel "noisy" copy: same utt ids and texts, other noise
        "train_noisy": make_feats_dir(root, "train_noisy", n_utt=30, seed=2, ids_seed=1),
        "dev": make_feats_dir(root, "dev_clean", n_utt=4, seed=3),
    }
