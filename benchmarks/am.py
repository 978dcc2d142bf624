"""Acoustic-model speed on CPU: training throughput (frames/s), the share of step
time spent waiting for data, and decoding real-time factor, for a config.

    python benchmarks/am.py [--config recipes/simgrid/conf/am_default.yaml]
        [--train recipes/simgrid/data/train_clean] [--test recipes/simgrid/data/test_clean]
        [--steps 40] [--threads 1]

Runs ``--steps`` training steps of the CTCBrain's own data path (DynamicItemDataset +
DynamicBatchSampler + kaldiio reads + CMVN) and model, timing data loading and
compute separately; then decodes ``--test`` with best-path search (and beam 8).
Prints one table; numbers vary ±10% on a shared VM.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default=str(ROOT / "recipes/simgrid/conf/am_default.yaml"))
    p.add_argument("--train", default=str(ROOT / "recipes/simgrid/data/train_clean"))
    p.add_argument("--test", default=str(ROOT / "recipes/simgrid/data/test_clean"))
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    import kaldiio
    import torch
    from speechbrain.dataio.batch import PaddedBatch
    from speechbrain.dataio.sampler import DynamicBatchSampler

    from pipeline.asr.data import Tokens, training_entries
    from pipeline.asr.train import load_hparams, make_dataset

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    entries, stats, _ = training_entries([args.train])
    tokens = Tokens.from_texts([e["text"] for e in entries.values()], "char")
    dim = kaldiio.load_mat(next(iter(entries.values()))["ark"]).shape[1]
    hp, _ = load_hparams(args.config, {"feat_dim": dim, "n_tokens": len(tokens)})
    ds = make_dataset(entries, stats, tokens, hp["cmvn"], hp["norm_vars"])
    sampler = DynamicBatchSampler(ds, max_batch_length=hp["max_batch_frames"],
                                  num_buckets=hp["num_buckets"],
                                  lengths_list=[e["num_frames"] for e in entries.values()],
                                  shuffle=True, seed=0)  # fmt: skip
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=PaddedBatch)
    model, aug = hp["model"], hp["spec_augment"]
    opt = hp["opt_class"](model.parameters())
    model.train()
    t_data = t_comp = 0.0
    frames = 0
    it = iter(loader)
    for step in range(args.steps + 2):
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        feats, rel = batch.feats
        lens = torch.round(rel * feats.shape[1]).long()
        tok, trel = batch.tokens
        tlens = torch.round(trel * tok.shape[1]).long()
        if random.random() < hp["spec_augment_prob"]:  # as CTCBrain does
            feats = aug(feats, lens)
        lp, olens = model(feats, lens)
        loss = torch.nn.functional.ctc_loss(lp.transpose(0, 1), tok, olens, tlens,
                                            zero_infinity=True)  # fmt: skip
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        t2 = time.perf_counter()
        if step >= 2:  # warm-up steps excluded
            t_data += t1 - t0
            t_comp += t2 - t1
            frames += int(lens.sum())
    n_params = sum(p.numel() for p in model.parameters())
    mct = 3 * sum(e["num_frames"] for e in entries.values())
    rows = [("params", f"{n_params / 1e6:.2f} M"),
            ("train throughput", f"{frames / (t_data + t_comp):.0f} frames/s "
             f"({frames / (t_data + t_comp) / 100:.0f}x real time)"),
            ("data loading share of step time", f"{100 * t_data / (t_data + t_comp):.1f}%"),
            # MCT = the clean, reverb and noisy versions of --train
            (f"MCT epoch estimate ({mct / 1e6:.1f} M frames)",
             f"{mct * (t_data + t_comp) / frames:.0f} s")]

    # decoding RTF: save this (barely trained) model as an EXP dir and decode
    from pipeline.asr.decode import decode
    from pipeline.asr.train import train_am  # noqa: F401 (same code path)

    with tempfile.TemporaryDirectory() as tmp:
        exp = Path(tmp) / "am"
        exp.mkdir()
        from speechbrain.utils.checkpoints import Checkpointer
        import json

        (exp / "hparams.yaml").write_text(Path(args.config).read_text())
        tokens.save(exp / "tokens.txt")
        (exp / "am.json").write_text(json.dumps(dict(
            feat_dim=int(dim), n_tokens=len(tokens), token_type="char", cmvn=hp["cmvn"],
            norm_vars=bool(hp["norm_vars"]))))  # fmt: skip
        Checkpointer(exp / "save", {"model": model}).save_checkpoint(meta={"WER": 0})
        for beam in (1, 8):
            c = decode(exp, args.test, Path(tmp) / f"decode_{beam}", beam=beam)
            rows.append((f"decode RTF, beam {beam}", f"{c['rtf']:.4f}"))
    w = max(len(r[0]) for r in rows)
    print(f"config {args.config}, {args.threads} thread(s)")
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
