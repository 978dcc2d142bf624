"""Front-end training on a set streamed from its arks (StreamedPairs): the same
statistics and batch count as in memory, every utterance once per epoch, it
learns, and peak memory does not grow with the corpus."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from pipeline.enhance.data import StreamedPairs
from pipeline.enhance.train import pairs, train_enhancer
from tests.enhance.conftest import DNN_CONF, make_parallel, write_parallel

torch.set_num_threads(1)


def test_streamed_index_stats_and_blocks(tmp_path):
    tn, tc, _, _ = make_parallel(tmp_path)
    mem = pairs([tn], [tc])
    st = StreamedPairs.from_dirs([tn], [tc])
    assert st.utts == mem.utts and st.num_frames == mem.num_frames
    allx, ally = np.concatenate(mem.inputs).astype(np.float64), np.concatenate(mem.targets)
    mx, sx, my, sy = st.stats()
    np.testing.assert_allclose(mx, allx.mean(0), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(sx, allx.std(0), rtol=1e-6)
    np.testing.assert_allclose(sy, ally.astype(np.float64).std(0), rtol=1e-6)
    order = np.random.default_rng(0).permutation(len(st.utts))
    blocks = st.blocks(order, 200)
    assert np.array_equal(np.concatenate(blocks), order)  # each utterance once
    assert all(st.lens[b].sum() <= 200 or len(b) == 1 for b in blocks)
    part = st.load(blocks[0])
    i = mem.utts.index(part.utts[0])
    np.testing.assert_array_equal(part.inputs[0], mem.inputs[i])


def test_streamed_training_learns_with_the_in_memory_batch_count(tmp_path):
    par = make_parallel(tmp_path / "d")
    conf = dict(DNN_CONF, training=dict(DNN_CONF["training"], frames_per_epoch=0))
    tn, tc, dn, dc = par
    m = train_enhancer(conf, [tn], [tc], [dn], [dc], tmp_path / "s", progress=False,
                       stream_above=0, block_frames=300)  # fmt: skip
    dev = m["dev"]["all"]
    assert dev["enh_mse"] < 0.7 * dev["input_mse"]
    from pipeline.enhance.train import FrameStep, NormalizedData, normalize_config
    from pipeline.enhance.models import build_model

    c = normalize_config(conf)
    model = build_model("dnn", 40, 40, c["frontend_conf"])
    step = FrameStep(model, c["training"])
    st = StreamedPairs.from_dirs([tn], [tc])
    assert step.num_batches(st) == step.num_batches(
        NormalizedData(pairs([tn], [tc]), model, step.pad))


# the child's own peak: VmHWM of its address space (ru_maxrss would include the
# peak of the pytest process it was spawned from: Linux keeps it across exec)
_RSS = ("import atexit, runpy, sys; atexit.register(lambda: print('MAXRSS_KB', "
        "open('/proc/self/status').read().split('VmHWM:')[1].split()[0], "
        "file=sys.stderr)); sys.argv = ['pipeline'] + sys.argv[1:]; "
        "runpy.run_module('pipeline', run_name='__main__', alter_sys=True)")


def _peak_rss_mb(tmp_path, name, n_utt, *extra) -> float:
    """Peak RSS of one train-enhancer run on 2 x ``n_utt`` utterances of ~500 frames."""
    if not (tmp_path / name).is_dir():
        write_parallel(tmp_path / name, n_spk=2, n_utt=n_utt, frames=(400, 600))
        write_parallel(tmp_path / f"{name}_dev", n_spk=1, n_utt=3, seed=1)
    tn, tc = tmp_path / name / "noisy", tmp_path / name / "clean"
    dn, dc = tmp_path / f"{name}_dev" / "noisy", tmp_path / f"{name}_dev" / "clean"
    exp = tmp_path / f"exp_{name}_{len(extra)}"
    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps(dict(DNN_CONF, training=dict(
        DNN_CONF["training"], epochs=1, batch_size=256, frames_per_epoch=0))))
    r = subprocess.run([sys.executable, "-c", _RSS, "train-enhancer", "--config", str(conf),
                        "--noisy", str(tn), "--clean", str(tc), "--dev-noisy", str(dn),
                        "--dev-clean", str(dc), "--out", str(exp),
                        "--threads", "1", "--no-progress", *extra],
                       capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert ("streamed from the arks" in r.stderr) == bool(extra), r.stderr
    return int(re.search(r"MAXRSS_KB (\d+)", r.stderr).group(1)) / 1024


def test_streamed_peak_memory_does_not_grow_with_the_corpus(tmp_path):
    """10x the corpus (25k -> 250k frames: +72 MB of float32 inputs and targets,
    several times that in memory): the streamed run's peak RSS grows by less
    than 25 MB (blocks of 5,000 frames); the in-memory run's by over 100 MB."""
    opts = ("--stream-above", "0", "--stream-block", "5000")
    small = _peak_rss_mb(tmp_path, "small", 25, *opts)
    large = _peak_rss_mb(tmp_path, "large", 250, *opts)
    assert large - small < 25, (small, large)
    in_memory = _peak_rss_mb(tmp_path, "large", 250)  # the default threshold: loaded
    print(f"peak RSS (MB): streamed {small:.0f} -> {large:.0f}, in memory {in_memory:.0f}")
    assert in_memory - large > 100, (large, in_memory)
