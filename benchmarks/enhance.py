"""Front-end inference speed on one core: frames/s and GFLOP/s of the dnn and lstm
default configs (``recipes/simgrid/conf/enhance_{dnn,lstm}.yaml``), in batch mode
and streaming (10-frame chunks), against this machine's fp32 matmul peak measured
in the same run (a large ``torch.mm``).

    python benchmarks/enhance.py [--frames 60000] [--conf-dir recipes/simgrid/conf]

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
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    peak = peak_gflops()
    print(f"fp32 matmul peak (torch.mm 2048^2, 1 thread): {peak:.1f} GFLOP/s")
    rng = np.random.default_rng(0)
    print(f"{'model':6s} {'mode':22s} {'frames/s':>10s} {'GFLOP/s':>8s} {'% peak':>7s}")
    for fe in ("dnn", "lstm"):
        conf = load_config(Path(a.conf_dir) / f"enhance_{fe}.yaml")
        model = build_model(fe, 40, 40, conf["frontend_conf"])
        enh = FeatureEnhancer(model, {"frontend": fe})
        fpf = flops_per_frame(enh.model)
        if fe == "dnn":  # all frames of 100 utterances, one matmul per layer
            utts = [rng.standard_normal((a.frames // 100, 40)).astype(np.float32)
                    for _ in range(100)]  # fmt: skip
            nfr = sum(len(u) for u in utts)
            dt = timeit(lambda: enh.enhance_batch(utts))
            mode = "batch (100 utts)"
        else:  # 32 utterances as one padded batch through the fused nn.LSTM
            x = torch.randn(32, a.frames // 32, 40)
            nfr = x.shape[0] * x.shape[1]

            def run():
                with torch.no_grad():
                    enh.model(x)

            dt = timeit(run)
            mode = "batch (32 seqs)"
        rows = [(mode, nfr / dt)]
        xs = rng.standard_normal((3000, 40)).astype(np.float32)
        chunks = [torch.from_numpy(xs[i:i + 10]) for i in range(0, len(xs), 10)]

        def stream():
            s = enh.stream()
            for c in chunks:
                s.push(c)
            s.flush()

        rows.append(("stream (10-frame chunks)", len(xs) / timeit(stream)))
        for mode, fps in rows:
            g = fps * fpf / 1e9
            print(f"{fe:6s} {mode:22s} {fps:10.0f} {g:8.1f} {100 * g / peak:6.1f}%")


if __name__ == "__main__":
    main()
