"""Acoustic-model speed on CPU: training throughput (frames/s), GFLOP/s as a share
of this machine's matmul peak (measured in the same run), where a training step's
time goes (data, front conv, recurrent layers, output + CTC loss, backward,
optimizer), and decoding real-time factor per search mode, for a config.

    python benchmarks/am.py [--config recipes/simgrid/conf/am_default.yaml]
        [--train recipes/simgrid/data/train_clean] [--test recipes/simgrid/data/test_clean]
        [--steps 40] [--threads 1] [--precision bf16] [--packed]

Runs ``--steps`` training steps of the CTCBrain's own data path (DynamicItemDataset +
DynamicBatchSampler + kaldiio reads + CMVN) and model, timing data loading and each
part of the step separately; then decodes ``--test`` with best path, best path +
GRID snap, beam 8 and the GRID-constrained searches (Viterbi, per-slot MBR; the
recipes' 3 subsampling phases with the AM in fp32 and in ``--precision``). FLOPs
count 2 per multiply-add of the conv, GRU and output matmuls (x3 for a training
step: forward + backward).
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
    p.add_argument("--precision", default=None, choices=["fp32", "bf16"],
                   help="bf16: CPU autocast around the forward and the loss "
                        "(default: the config's precision, auto resolved as train-am does)")
    p.add_argument("--no-fused", action="store_true",
                   help="the optimizer's default (foreach) step instead of the fused one")
    p.add_argument("--packed", action="store_true",
                   help="time the recurrent layers as the model had them before: "
                        "nn.GRU / nn.LSTM(bidirectional=True) on a packed sequence "
                        "(same sizes) instead of the padded BiRNN")
    args = p.parse_args()

    import kaldiio
    import torch
    from speechbrain.dataio.batch import PaddedBatch
    from speechbrain.dataio.sampler import DynamicBatchSampler

    from pipeline.asr.data import Tokens, training_entries
    from pipeline.asr.train import load_hparams, make_dataset
    from pipeline.config import fused_optimizer

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    entries, stats, _ = training_entries([args.train])
    hp0, _ = load_hparams(args.config, {"feat_dim": 40, "n_tokens": 2})
    kind = hp0.get("token_type", "char")
    tokens = Tokens.from_texts([e["text"] for e in entries.values()], kind)
    dim = kaldiio.load_mat(next(iter(entries.values()))["ark"]).shape[1]
    hp, _ = load_hparams(args.config, {"feat_dim": dim, "n_tokens": len(tokens)})
    if args.precision is None:
        from pipeline.config import resolve_precision

        args.precision = resolve_precision(hp.get("precision", "fp32"), "cpu")
        if args.precision not in ("fp32", "bf16"):
            args.precision = "fp32"
    ds = make_dataset(entries, stats, tokens, hp["cmvn"], hp["norm_vars"])
    sampler = DynamicBatchSampler(ds, max_batch_length=hp["max_batch_frames"],
                                  num_buckets=hp["num_buckets"],
                                  lengths_list=[e["num_frames"] for e in entries.values()],
                                  shuffle=True, seed=0)  # fmt: skip
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=PaddedBatch)
    model, aug = hp["model"], hp["spec_augment"]
    packed_rnn = None
    if args.packed and model.rnn is not None:
        r = model.rnn
        packed_rnn = r.CELLS[r.cell](r.input_size, r.hidden_size, r.num_layers,
                                     batch_first=True, bidirectional=True,
                                     dropout=r.drop.p)  # fmt: skip
        model.rnn = None  # the optimizer steps the packed RNN's weights instead
        model.packed_rnn = packed_rnn
    # as train-am builds it: fused=True where PyTorch has the kernel (--no-fused: not)
    opt_class = hp["opt_class"] if args.no_fused else fused_optimizer(hp["opt_class"])
    opt = opt_class(model.parameters())
    model.train()
    parts = dict(data=0.0, conv=0.0, rnn=0.0, out_ctc=0.0, backward=0.0, optimizer=0.0)
    frames = steps_out = 0
    it = iter(loader)
    tick = time.perf_counter
    for step in range(args.steps + 2):
        t = [tick()]
        batch = next(it)
        feats, rel = batch.feats
        lens = torch.round(rel * feats.shape[1]).long()
        tok, trel = batch.tokens
        tlens = torch.round(trel * tok.shape[1]).long()
        if random.random() < hp["spec_augment_prob"]:  # as CTCBrain does
            feats = aug(feats, lens)
        t.append(tick())
        ac = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16")
        ac.__enter__()
        # the model's forward, split into its parts (same ops as AcousticModel.forward)
        h = model.conv(feats.transpose(1, 2)).transpose(1, 2)
        h = model.drop(torch.relu(model.norm(h)))
        olens = model.out_frames(lens).clamp(max=h.shape[1], min=1)
        if len(model.blocks):
            h = model.blocks(h.transpose(1, 2)).transpose(1, 2)
        t.append(tick())
        if model.conformer is not None:
            h, _ = model.conformer(h, olens)
        if model.rnn is not None:
            h = model.rnn(h, olens)
        elif packed_rnn is not None:
            packed = torch.nn.utils.rnn.pack_padded_sequence(
                h, olens.cpu(), batch_first=True, enforce_sorted=False)
            h, _ = packed_rnn(packed)
            h, _ = torch.nn.utils.rnn.pad_packed_sequence(h, batch_first=True)
        t.append(tick())
        lp = model.out(model.drop(h)).float().log_softmax(-1)
        loss = torch.nn.functional.ctc_loss(lp.transpose(0, 1), tok, olens, tlens,
                                            zero_infinity=True)  # fmt: skip
        ac.__exit__(None, None, None)
        t.append(tick())
        opt.zero_grad()
        loss.backward()
        t.append(tick())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        t.append(tick())
        if step >= 2:  # warm-up steps excluded
            for k, a, b in zip(parts, t[:-1], t[1:]):
                parts[k] += b - a
            frames += int(lens.sum())
            steps_out += int(olens.sum())
    total = sum(parts.values())
    n_params = sum(p.numel() for p in model.parameters())
    mct = 3 * sum(e["num_frames"] for e in entries.values())
    # FLOPs per output step of the forward (2 per multiply-add)
    conv = model.conv
    f_step = 2.0 * conv.in_channels * conv.out_channels * conv.kernel_size[0]
    for blk in model.blocks:
        f_step += 2.0 * blk.conv.in_channels * blk.conv.out_channels * blk.conv.kernel_size[0]
    rnn = model.rnn if model.rnn is not None else packed_rnn
    if rnn is not None:
        H, L = rnn.hidden_size, rnn.num_layers
        gates = 4 if isinstance(rnn, torch.nn.LSTM) or getattr(rnn, "cell", "") == "lstm" else 3
        f_step += sum(2 * 2.0 * gates * H * ((conv.out_channels if i == 0 else 2 * H) + H)
                      for i in range(L))  # fmt: skip
    if model.conformer is not None:  # per layer: 2 FFNs, attention projections, conv
        d = conv.out_channels
        for layer in model.conformer.conformer_layers:
            ffn = layer.ffn1.sequential[1].out_features
            f_step += 2 * 2.0 * 2 * d * ffn + 2.0 * 4 * d * d + 2.0 * (2 * d * d + d * d)
    f_step += 2.0 * model.out.in_features * model.out.out_features
    gflops = 3 * f_step * steps_out / total / 1e9
    from enhance import peak_gflops  # benchmarks/enhance.py: the same peak measure

    peak = peak_gflops()
    rows = [("params", f"{n_params / 1e6:.2f} M"),
            ("train throughput", f"{frames / total:.0f} frames/s "
             f"({frames / total / 100:.0f}x real time)"),
            ("train GFLOP/s (x3 forward matmuls)",
             f"{gflops:.2f} = {100 * gflops / peak:.1f}% of the {peak:.0f} GFLOP/s "
             "fp32 matmul peak"),
            ("step time split (rnn = GRU, LSTM or Conformer)",
             ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in parts.items())),
            # MCT = the clean, reverb and noisy versions of --train
            (f"MCT epoch estimate ({mct / 1e6:.1f} M frames)",
             f"{mct * total / frames:.0f} s")]

    if packed_rnn is not None:  # decoding needs the model's own layers
        print(f"config {args.config}, {args.threads} thread(s), {args.precision}, "
              f"packed nn.{type(packed_rnn).__name__}")
        for k, v in rows:
            print(f"{k}: {v}")
        return 0
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
            feat_dim=int(dim), n_tokens=len(tokens), token_type=kind, cmvn=hp["cmvn"],
            norm_vars=bool(hp["norm_vars"]), precision=args.precision)))  # fmt: skip
        Checkpointer(exp / "save", {"model": model}).save_checkpoint(meta={"WER": 0})
        modes = [("best path", 1, None, {}), ("best path + grid-snap", 1, "grid-snap", {}),
                 ("beam 8", 8, None, {})]
        if kind == "word":
            phases = min(3, int(hp["stride"]))
            modes += [("grid (constrained Viterbi)", 1, "grid", {}),
                      ("grid-mbr (constrained, slot posteriors)", 1, "grid-mbr", {}),
                      (f"grid, {phases} phases (the recipes'), fp32", 1, "grid",
                       dict(phases=phases)),
                      (f"grid, {phases} phases, AM in {args.precision}", 1, "grid",
                       dict(phases=phases, am_precision=args.precision))]  # fmt: skip
        for name, beam, grammar, extra in modes:
            c = decode(exp, args.test, Path(tmp) / f"decode_{len(rows)}", beam=beam,
                       grammar=grammar, **extra)  # fmt: skip
            rows.append((f"decode RTF, {name}", f"{c['rtf']:.4f}"))
    w = max(len(r[0]) for r in rows)
    print(f"config {args.config}, {args.threads} thread(s), {args.precision}")
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
