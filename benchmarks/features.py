"""Feature-extraction throughput: pipeline.features vs kaldi-native-fbank, SpeechBrain.

Usage::

    python benchmarks/features.py [--seconds 300] [--kind fbank] [--repeats 3]

All extractors run single-threaded on the same synthetic 16 kHz audio (utterances
of 1-4 s, speech-like harmonics plus noise, int16 range) and the best of
``--repeats`` runs is reported as x real time (seconds of audio per second of one
core) and as a ratio to ours (per utterance). Numbers depend on the machine; rerun
this command to reproduce them.
"""

from __future__ import annotations

import os

# Single-threaded BLAS/OpenMP: must be set before numpy / torch are imported.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import features as F  # noqa: E402

SR = 16000


def make_audio(seconds: float, seed: int = 0) -> list[np.ndarray]:
    """Synthetic utterances of 1-4 s totalling about ``seconds``: (N_i,) int16."""
    rng = np.random.default_rng(seed)
    wavs, total = [], 0.0
    while total < seconds:
        dur = rng.uniform(1.0, 4.0)
        n = int(dur * SR)
        t = np.arange(n) / SR
        f0 = rng.uniform(90, 250) * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        x = sum(np.sin(k * phase) / k for k in range(1, 25))
        x *= 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 6) * t)
        x = x / np.abs(x).max() * rng.uniform(1000, 20000)
        x += rng.standard_normal(n) * 30
        wavs.append(np.clip(x, -32768, 32767).astype(np.int16))
        total += dur
    return wavs


def ours(kind: str):
    return lambda wavs: [F.compute_features(w, SR, kind) for w in wavs]


def ours_batch(kind: str):
    def run(wavs):
        fb = F.compute_fbank_batch(wavs, SR)
        if kind == "fbank":
            return fb
        return [F.fbank_to_mfcc(f, F.feature_dim(kind)) for f in fb]

    return run


def knf_extractor(kind: str):
    import kaldi_native_fbank as knf

    if kind == "fbank":
        opts, cls = knf.FbankOptions(), knf.OnlineFbank
    else:
        opts, cls = knf.MfccOptions(), knf.OnlineMfcc
        opts.num_ceps = F.feature_dim(kind)
        opts.use_energy = False
        opts.cepstral_lifter = 22
    opts.frame_opts.dither = 0.0
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = 40

    def run(wavs):
        out = []
        for w in wavs:
            ex = cls(opts)
            # a list converts faster than an ndarray in knf's pybind (measured)
            ex.accept_waveform(SR, w.astype(np.float32).tolist())
            ex.input_finished()
            n = ex.num_frames_ready
            out.append(np.array([ex.get_frame(i) for i in range(n)]))
        return out

    return run


def speechbrain_extractor(kind: str):
    import torch
    from speechbrain.lobes.features import MFCC, Fbank

    torch.set_num_threads(1)
    if kind == "fbank":
        mod = Fbank(n_mels=40)
    else:
        mod = MFCC(n_mels=40, n_mfcc=F.feature_dim(kind), deltas=False, context=False)
    mod.eval()

    def run(wavs):
        out = []
        with torch.no_grad():
            for w in wavs:
                x = torch.from_numpy(w.astype(np.float32) / 32768.0)[None]
                out.append(mod(x)[0].numpy())
        return out

    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=300.0, help="audio per run")
    p.add_argument("--kind", default="fbank", choices=sorted(F.FEATURE_KINDS))
    p.add_argument("--repeats", type=int, default=3, help="best of N runs")
    args = p.parse_args(argv)

    wavs = make_audio(args.seconds)
    audio_s = sum(len(w) for w in wavs) / SR
    print(f"{len(wavs)} utterances, {audio_s:.1f} s of audio, kind={args.kind}, "
          f"1 thread, best of {args.repeats}")

    candidates = [("ours (per utterance)", ours(args.kind)),
                  ("ours (batch)", ours_batch(args.kind)),
                  ("kaldi-native-fbank", knf_extractor(args.kind))]
    try:
        candidates.append(("speechbrain", speechbrain_extractor(args.kind)))
    except ImportError as e:  # optional peer
        print(f"speechbrain skipped: {e}")

    results = []
    for name, fn in candidates:
        fn(wavs[:3])  # warm-up: caches, imports, plans
        best = min(_timed(fn, wavs) for _ in range(args.repeats))
        results.append((name, audio_s / best))
    ref = results[0][1]
    print(f"{'extractor':<24}{'xRT':>10}{'vs ours':>10}")
    for name, xrt in results:
        print(f"{name:<24}{xrt:>10.0f}{xrt / ref:>10.2f}")
    return 0


def _timed(fn, wavs) -> float:
    t0 = time.perf_counter()
    fn(wavs)
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
