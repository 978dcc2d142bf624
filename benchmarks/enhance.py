"""Front-end inference speed on one core: frames/s and GFLOP/s of the dnn and lstm
default configs (``recipes/simgrid/conf/enhance_{dnn,lstm}.yaml``), in batch mode
(``FeatureEnhancer.enhance_batch`` of 100 utterances) and streaming in 10-frame
chunks (one stream; ``--streams`` concurrent ones through
``FeatureEnhancer.streams``), against this machine's fp32 matmul peak measured in
the same run (a large ``torch.mm``).

    python benchmarks/enhance.py [--frames 60000] [--streams 8]
        [--conf-dir recipes/simgrid/conf]

Weights are random (speed does not depend on them). FLOPs count 2 per
multiply-add of the Linear / LSTM matmuls (elementwise work not counted).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from pipeline.enhance.enhancer import FeatureEnhancer
from pipeline.enhance.models import DNNMapper, build_model
from pipeline.enhance.train import load_config


def flops_per_frame(m) -> float:
    if isinstance(m, DNNMapper):
        return sum(2.0 * layer.in_features * layer.out_features
                   for layer in m.mlp if isinstance(layer, torch.nn.Linear))  # fmt: skip
    f = 0.0
    for rnn in m.rnns:
        dirs = 2 if rnn.bidirectional else 1
        h, p = rnn.hidden_size, rnn.proj_size or rnn.hidden_size
        f += dirs * 2.0 * 4 * h * (rnn.input_size + p)
        if rnn.proj_size:
            f += dirs * 2.0 * h * rnn.proj_size
    return f + 2.0 * m.out.in_features * m.out.out_features


def timeit(fn, min_s=1.0) -> float:
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_s:
            return dt / n


def peak_gflops(n=2048) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2.0 * n**3 / timeit(lambda: torch.mm(a, b)) / 1e9


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frames", type=int, default=60000, help="frames per batch run")
    p.add_argument("--conf-dir", default=str(Path(__file__).parents[1] /
                                             "recipes/simgrid/conf"))  # fmt: skip
    p.add_argument("--streams", type=int, default=8,
                   help="concurrent streams of the multi-stream row (default 8)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    peak = peak_gflops()
    print(f"fp32 matmul peak (torch.mm 2048^2, 1 thread): {peak:.1f} GFLOP/s")
    rng = np.random.default_rng(0)
    print(f"{'model':6s} {'mode':24s} {'frames/s':>10s} {'GFLOP/s':>8s} {'% peak':>7s}")
    for fe in ("dnn", "lstm"):
        conf = load_config(Path(a.conf_dir) / f"enhance_{fe}.yaml")
        model = build_model(fe, 40, 40, conf["frontend_conf"])
        enh = FeatureEnhancer(model, {"frontend": fe})
        fpf = flops_per_frame(enh.model)
        # 100 utterances through enhance_batch (FeatureMapper.forward_batch: the
        # dnn's windows in cache-sized matmuls, the lstm's as padded batches)
        utts = [rng.standard_normal((a.frames // 100, 40)).astype(np.float32)
                for _ in range(100)]  # fmt: skip
        nfr = sum(len(u) for u in utts)
        dt = timeit(lambda: enh.enhance_batch(utts))
        mode = "batch (100 utts)"
        rows = [(mode, nfr / dt)]
        xs = rng.standard_normal((3000, 40)).astype(np.float32)
        chunks = [torch.from_numpy(xs[i:i + 10]) for i in range(0, len(xs), 10)]

        def stream():
            s = enh.stream()
            for c in chunks:
                s.push(c)
            s.flush()

        rows.append(("stream (10-frame chunks)", len(xs) / timeit(stream)))
        # a server's concurrent streams pushed together (EnhancerStreams)
        many = [torch.from_numpy(rng.standard_normal((3000, 40)).astype(np.float32))
                for _ in range(a.streams)]  # fmt: skip

        def streams():
            ss = enh.streams(a.streams)
            for i in range(0, 3000, 10):
                ss.push([x[i:i + 10] for x in many])
            ss.flush()

        rows.append((f"{a.streams} streams (10-frame)", a.streams * 3000 / timeit(streams)))
        for mode, fps in rows:
            g = fps * fpf / 1e9
            print(f"{fe:6s} {mode:24s} {fps:10.0f} {g:8.1f} {100 * g / peak:6.1f}%")
        if fe == "lstm":  # what bounds one stream: a matrix-vector product per step
            hsz = enh.model.rnns[0].hidden_size
            hv, wm = torch.randn(1, hsz), torch.randn(hsz, 4 * hsz)
            g = 2.0 * hsz * 4 * hsz / timeit(lambda: torch.mm(hv, wm)) / 1e9
            print(f"{'':6s} {'(one step matvec 1x%d)' % hsz:24s} {'':>10s} {g:8.1f} "
                  f"{100 * g / peak:6.1f}%")


if __name__ == "__main__":
    main()
