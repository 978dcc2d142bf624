"""Data-parallel training on CPU (gloo, 2 processes launched by torchrun): both
trainers run, write one model from rank 0 and resume; with the same global
batch a 2-process front-end run follows the 1-process run (the same minibatches
split in halves, gradients averaged)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.asr.conftest import feats_dirs, tiny_config  # noqa: F401 - a fixture
from tests.enhance.conftest import DNN_CONF, make_parallel

REPO = Path(__file__).resolve().parents[1]
# 1-process vs 2-process: the same arithmetic up to the order of float sums
REL_TOL = 1e-4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(n: int, *args: str, module: bool = False) -> subprocess.CompletedProcess:
    """``torchrun --nproc_per_node n`` (the module torch.distributed.run) on one
    host, one CPU thread per process."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n),
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    cmd += ["-m", *args] if module else list(args)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def _enhancer(tmp_path, parallel, name, conf, n):
    cf = tmp_path / f"{name}.json"
    cf.write_text(json.dumps(conf))
    exp = tmp_path / name
    if n == 1:
        from pipeline.enhance.train import train_enhancer

        tn, tc, dn, dc = parallel
        train_enhancer(conf, [tn], [tc], [dn], [dc], exp, progress=False)
    else:
        torchrun(n, "tests.ddp_worker", "enhancer", str(cf), str(exp),
                 *map(str, parallel), module=True)
    return exp


def _history(exp):
    return json.loads((exp / "metrics.json").read_text())["history"]


def _close(a, b):
    return abs(a - b) <= REL_TOL * max(abs(a), abs(b))


def test_enhancer_two_processes_match_one_and_resume_exactly(tmp_path):
    torch.set_num_threads(1)
    parallel = make_parallel(tmp_path / "data")
    fe = dict(DNN_CONF["frontend_conf"], dropout=0.0)  # dropout masks differ per shard
    conf = dict(DNN_CONF, frontend_conf=fe,
                training=dict(DNN_CONF["training"], epochs=2, frames_per_epoch=1280))
    one = _enhancer(tmp_path, parallel, "one", conf, 1)
    two = _enhancer(tmp_path, parallel, "two", conf, 2)
    h1, h2 = _history(one), _history(two)
    assert len(h1) == len(h2) == 2
    for a, b in zip(h1, h2):
        assert _close(a["train_loss"], b["train_loss"]), (h1, h2)
        assert _close(a["dev_loss"], b["dev_loss"]), (h1, h2)
    m1 = torch.load(one / "model.pt", weights_only=False)["state_dict"]
    m2 = torch.load(two / "model.pt", weights_only=False)["state_dict"]
    for k in m1:
        torch.testing.assert_close(m1[k], m2[k], rtol=1e-3, atol=1e-5)
    # rank 0 alone wrote: one model, one checkpoint, no leftovers
    assert sorted(p.name for p in two.iterdir()) == [
        "ckpt", "config.yaml", "metrics.json", "model.pt", "train.done"]
    assert [p.name for p in (two / "ckpt").iterdir()] == ["last.pt"]
    # interrupted after epoch 1 at 2 processes, resumed at 2: the same model
    part = _enhancer(tmp_path, parallel, "part",
                     dict(conf, training=dict(conf["training"], epochs=1)), 2)
    (tmp_path / "part.json").write_text(json.dumps(conf))
    torchrun(2, "tests.ddp_worker", "enhancer", str(tmp_path / "part.json"),
             str(part), *map(str, parallel), module=True)
    a = torch.load(two / "ckpt/last.pt", weights_only=False)["modules"]["model"]
    b = torch.load(part / "ckpt/last.pt", weights_only=False)["modules"]["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert [h["dev_loss"] for h in _history(two)] == [h["dev_loss"] for h in _history(part)]


def test_gan_two_processes_match_one(tmp_path):
    """Both of the GAN's optimizers, its EMA and its adversarial steps in DDP."""
    from tests.enhance.test_gan import GAN_CONF

    torch.set_num_threads(1)
    parallel = make_parallel(tmp_path / "data")
    conf = dict(GAN_CONF, gan=dict(GAN_CONF["gan"], pretrain_steps=4, pretrain_epochs=0),
                training=dict(GAN_CONF["training"], epochs=1))
    one = _enhancer(tmp_path, parallel, "one", conf, 1)
    two = _enhancer(tmp_path, parallel, "two", conf, 2)
    (a,), (b,) = _history(one), _history(two)
    assert "d_loss" in a and "d_loss" in b  # adversarial steps ran (8 of 12)
    for k in ("train_loss", "dev_loss"):
        assert _close(a[k], b[k]), (a, b)
    # the EMA generator: weights within 2e-3 (measured 4.5e-4: Adam turns the
    # float-order noise of near-zero adversarial gradients into visible steps)
    m1 = torch.load(one / "model.pt", weights_only=False)["state_dict"]
    m2 = torch.load(two / "model.pt", weights_only=False)["state_dict"]
    for k in m1:
        torch.testing.assert_close(m1[k], m2[k], rtol=0, atol=2e-3)


def _log(exp):
    return [(int(re.search(r"epoch: (\d+)", ln).group(1)),
             float(re.search(r"train loss: ([\d.e+-]+)", ln).group(1)))
            for ln in (exp / "train_log.txt").read_text().splitlines()]


def test_am_two_processes_train_resume_and_decode(tmp_path, feats_dirs):
    """SpeechBrain's DDP: each rank trains on its share of the dynamic batches;
    rank 0 writes one model dir; the same command resumes after an interruption."""
    from pipeline.asr.decode import decode

    exp = tmp_path / "am"
    train = [str(feats_dirs["train_clean"]), str(feats_dirs["train_noisy"])]
    dev = str(feats_dirs["dev"])
    worker = "tests.ddp_worker"
    torchrun(2, worker, "am", str(tiny_config(tmp_path, epochs=2)), str(exp), dev, *train,
             module=True)
    assert [e for e, _ in _log(exp)] == [1, 2]
    torchrun(2, worker, "am", str(tiny_config(tmp_path, epochs=4)), str(exp), dev, *train,
             module=True)
    log = _log(exp)
    assert [e for e, _ in log] == [1, 2, 3, 4]  # resumed at 3, one log (rank 0's)
    assert log[-1][1] < 0.8 * log[0][1]  # the loss falls
    meta = json.loads((exp / "am.json").read_text())
    assert meta["world_size"] == 2 and (exp / "train.done").is_file()
    assert len(list((exp / "save").glob("CKPT*"))) == 1
    c = decode(exp, feats_dirs["dev"], tmp_path / "dec", beam=1)
    assert c["n_words"] == 48


def test_train_enhancer_cli_under_torchrun_writes_once_and_skips_once(tmp_path):
    """``torchrun -m pipeline train-enhancer``: rank 0 alone writes request.json
    and prints the result; rerun, rank 0 alone decides and prints the skip."""
    parallel = make_parallel(tmp_path / "data")
    conf = tmp_path / "dnn.json"
    conf.write_text(json.dumps(dict(DNN_CONF, training=dict(DNN_CONF["training"], epochs=1))))
    tn, tc, dn, dc = map(str, parallel)
    args = ("pipeline", "train-enhancer", "--config", str(conf), "--noisy", tn, "--clean", tc,
            "--dev-noisy", dn, "--dev-clean", dc, "--out", str(tmp_path / "exp"),
            "--threads", "1", "--no-progress")
    r = torchrun(2, *args, module=True)
    assert r.stdout.count("best epoch 1") == 1, r.stdout
    assert (tmp_path / "exp/request.json").is_file() and (tmp_path / "exp/train.done").is_file()
    r = torchrun(2, *args, module=True)
    assert r.stdout.count("skip: train-enhancer") == 1, r.stdout
