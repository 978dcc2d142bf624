"""Synthetic parallel (noisy, clean) feature dirs made with numpy: clean log-mel
is a smooth random process, noisy = a soft-max of clean and a noise floor plus
jitter, so a small mapper can learn it in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.datadir import DataDir
from pipeline.make_feats import FeatsWriter
from tests.conftest import write_wav


def _clean_feats(rng, t, d=40):
    base = np.cumsum(rng.standard_normal((t, d)), axis=0) * 0.3
    base -= base.mean(0)
    return (base + np.linspace(4, 0, d) + 2 * np.sin(np.arange(t) / 7.0)[:, None]
            ).astype(np.float32)  # fmt: skip


def write_parallel(root: Path, n_spk=2, n_utt=6, seed=0, dim_noisy=40,
                   frames=(60, 90)) -> tuple[Path, Path]:  # fmt: skip
    """``root/noisy`` and ``root/clean`` data dirs sharing utt-ids, with feats.scp."""
    rng = np.random.default_rng(seed)
    wav = str(write_wav(root / "wav" / "x.wav", seconds=0.2))
    utts = [f"spk{s}_u{u:02d}" for s in range(n_spk) for u in range(n_utt)]
    clean, noisy, snr = {}, {}, {}
    for i, u in enumerate(utts):
        t = int(rng.integers(*frames))
        c = _clean_feats(rng, t)
        floor = 3.0 + rng.uniform(-1, 1)
        n = np.logaddexp(c, floor + 0.3 * rng.standard_normal(c.shape)).astype(np.float32)
        clean[u] = c
        noisy[u] = n[:, :dim_noisy] if dim_noisy <= 40 else np.pad(n, ((0, 0), (0, dim_noisy - 40)))  # noqa: E501
        snr[u] = [-6, 0, 6][i % 3]
    out = []
    for name, feats in (("noisy", noisy), ("clean", clean)):
        d = root / name
        tables = dict(wav_scp={u: wav for u in utts}, text={u: "bin blue" for u in utts},
                      utt2spk={u: u.split("_")[0] for u in utts},
                      utt2cond={u: name for u in utts})  # fmt: skip
        if name == "noisy":
            tables["utt2snr"] = snr
        DataDir(**tables).save(d)
        w = FeatsWriter(d, "fbank")
        try:
            for u in utts:
                w.add(u, tables["utt2spk"][u], feats[u])
            w.commit(DataDir.load(d))
        finally:
            w.close()
        out.append(d)
    return out[0], out[1]


def make_parallel(root: Path) -> tuple[Path, Path, Path, Path]:
    """(train_noisy, train_clean, dev_noisy, dev_clean) dirs under ``root``."""
    tn, tc = write_parallel(root / "train", seed=0)
    dn, dc = write_parallel(root / "dev", n_spk=1, n_utt=4, seed=1)
    return tn, tc, dn, dc


def train(parallel, exp: Path, conf: dict) -> dict:
    """Train ``conf`` on :func:`make_parallel` dirs into ``exp``; its metrics."""
    from pipeline.enhance.train import train_enhancer

    tn, tc, dn, dc = parallel
    return train_enhancer(conf, [tn], [tc], [dn], [dc], exp, progress=False)


@pytest.fixture
def parallel(tmp_path):
    """(train_noisy, train_clean, dev_noisy, dev_clean) dirs."""
    return make_parallel(tmp_path)


DNN_CONF = {"frontend": "dnn", "frontend_conf": {"context": 2, "hidden": [32, 32],
            "dropout": 0.1}, "seed": 3,
            "training": {"epochs": 3, "frames_per_epoch": 3000, "batch_size": 64,
                         "lr": 0.003, "patience": 5}}  # fmt: skip
LSTM_CONF = {"frontend": "lstm", "frontend_conf": {"hidden": 24, "layers": 2},
             "seed": 3, "training": {"epochs": 3, "frames_per_epoch": 3000,
                                     "batch_size": 8, "chunk_len": 30, "lr": 0.005,
                                     "patience": 5}}  # fmt: skip
