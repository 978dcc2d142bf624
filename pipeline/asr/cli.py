"""Verbs ``train-am``, ``decode``, ``score`` and ``report`` (imports stay lazy:
``python -m pipeline --help`` loads this module)."""

from __future__ import annotations

import argparse
import sys


def _train_am(args) -> int:
    import torch

    from pipeline.asr.train import DEFAULT_CONFIG, check_train_dirs, train_am

    torch.set_num_threads(args.threads)

    train = [p for p in args.train.split(",") if p]
    check_train_dirs(train + [args.dev])
    train_am(args.config or DEFAULT_CONFIG, train, args.dev, args.out,
             device=args.device, seed=args.seed, progress=args.progress)  # fmt: skip
    return 0


def _decode(args) -> int:
    import torch

    from pipeline.asr.decode import LoadedAM, decode, decode_is_complete

    torch.set_num_threads(args.threads)
    if args.beam < 1:
        print("error: --beam must be >= 1", file=sys.stderr)
        return 2
    if len(args.dirs) % 2:
        print("error: expected DATA_DIR OUT_DIR pairs", file=sys.stderr)
        return 2
    am = None
    for data_dir, out_dir in zip(args.dirs[::2], args.dirs[1::2]):
        opts = dict(frontend=args.frontend, beam=args.beam, grammar=args.grammar)
        if not args.force and decode_is_complete(args.am, data_dir, out_dir, **opts):
            print(f"{out_dir}: complete (--force to redo)")
            continue
        am = am or LoadedAM(args.am, args.device)  # load once for every pair
        r = decode(args.am, data_dir, out_dir, device=args.device, am=am, **opts)
        print(f"{out_dir}: WER {r['wer']:.2f}% ({r['n_err']}/{r['n_words']})")
    return 0


def _score(args) -> int:
    from pipeline.scoring import score_exp

    try:
        records = score_exp(args.exp_root)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for r in records:
        print(f"{r['am']:10s} {r['frontend']:6s} {r['test_set']:18s} WER {r['wer']:6.2f}")
    return 0


def _report(args) -> int:
    from pipeline.scoring import write_report

    try:
        print(write_report(args.exp_root))
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("train-am", help="train a SpeechBrain CTC acoustic model")
    s.add_argument("--config", default=None,
                   help="HyperPyYAML hparams (default pipeline/asr/hparams/am_default.yaml)")  # noqa: E501
    s.add_argument("--train", required=True,
                   help="DIR[,DIR...]: training data dirs; colliding utt-ids (MCT) "
                        "get -<name> suffixes (train_noisy -> -noisy)")  # fmt: skip
    s.add_argument("--dev", required=True, help="dev data dir (checkpoint selection)")
    s.add_argument("--out", required=True, help="model dir EXP (resumes if present)")
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    s.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a shared machine more "
                        "threads than free cores makes each step many times slower)")
    s.add_argument("--seed", type=int, default=None, help="overrides the config seed")
    s.add_argument("--progress", action="store_true", help="show progress bars")
    s.set_defaults(func=_train_am)

    s = sub.add_parser("decode", help="decode data dirs with an AM; write hyp/ref/wer")
    s.add_argument("--am", required=True, help="trained model dir EXP")
    s.add_argument("dirs", nargs="+", metavar="DATA_DIR OUT_DIR",
                   help="one or more pairs; OUT_DIR by contract "
                        "exp/<am>/decode_<frontend>_<testset>")  # fmt: skip
    s.add_argument("--force", action="store_true",
                   help="redo outputs that are complete (decode.json newer than the AM)")
    s.add_argument("--frontend", default=None,
                   help="front-end model dir: enhance features on the fly")  # fmt: skip
    s.add_argument("--beam", type=int, default=1,
                   help="1: CTC best path; N > 1: CTC prefix beam search")  # fmt: skip
    s.add_argument("--grammar", default=None, choices=["none", "grid", "grid-snap"],
                   help="grid: search only through the GRID grammar (exact CTC "
                        "Viterbi; word-level AMs); grid-snap: snap the free "
                        "hypothesis onto the grammar afterwards")  # fmt: skip
    s.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    s.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a shared machine more "
                        "threads than free cores makes each step many times slower)")
    s.set_defaults(func=_decode)

    s = sub.add_parser("score", help="EXP_ROOT/*/decode_*_*/ -> EXP_ROOT/results.json")
    s.add_argument("exp_root")
    s.set_defaults(func=_score)

    s = sub.add_parser("report", help="results.json -> report.md + wer_vs_snr.png")
    s.add_argument("exp_root")
    s.set_defaults(func=_report)
