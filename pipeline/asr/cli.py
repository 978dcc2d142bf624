"""Verbs ``train-am``, ``decode``, ``combine-decodes``, ``score`` and ``report``
(imports stay lazy:
``python -m pipeline --help`` loads this module)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import add_device, add_no_progress, add_threads, check_out_dir, out_dir


def _fail(msg, code: int = 1) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return code


def _train_am(args) -> int:
    from pipeline.asr import AM_OUTPUTS, DEFAULT_CONFIG
    from pipeline.stamp import (config_hash, finished_stamp, inputs_stamp, make_request,
                                skip_or_refuse)

    config = args.config or DEFAULT_CONFIG
    train = [p for p in args.train.split(",") if p]
    try:
        text = Path(config).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return _fail(f"{config}: cannot read the config: {e}", 2)
    seed = "" if args.seed is None else f"\n# --seed {args.seed}"
    extra = {}
    if args.init is not None:  # another init AM (or it retrained) is another request
        extra["init"] = finished_stamp(args.init, "--init")  # DataDirError: unfinished
    request = make_request("train-am", config_hash(text + seed),
                           inputs_stamp(train=train, dev=[args.dev]), **extra)  # fmt: skip
    rc = skip_or_refuse("train-am", args.out, request, AM_OUTPUTS, args.force,
                        device=args.device)  # fmt: skip
    if rc is not None:
        return rc
    import torch

    from pipeline import distributed as ddp
    from pipeline.asr.train import check_config, check_finite_inputs, check_train_dirs, train_am
    from pipeline.config import ConfigError
    from pipeline.stamp import write_request

    torch.set_num_threads(args.threads)
    try:
        check_config(config, args.seed)
    except ConfigError as e:
        return _fail(e, 2)
    check_train_dirs(train + [args.dev])
    check_finite_inputs(train + [args.dev])
    write_request(args.out, request)
    train_am(config, train, args.dev, args.out, device=args.device, seed=args.seed,
             progress=not args.no_progress, init=args.init)  # fmt: skip
    ddp.destroy()  # torchrun: every rank leaves the group (no-op otherwise)
    return 0


def _decode(args) -> int:
    import torch

    from pipeline.asr.decode import (LoadedAM, decode, decode_is_complete, lm_options,
                                     phase_offsets)
    from pipeline.asr.grammar import SLOT_GRAMMARS

    torch.set_num_threads(args.threads)
    if args.beam is None:
        args.beam = 50 if args.lm else 1
    if args.lexicon and not args.lm:
        return _fail("--lexicon needs --lm", 2)
    if args.lm and args.grammar not in (None, "none"):
        return _fail("--lm and --grammar exclude each other", 2)
    if args.lm and not Path(args.lm).is_file():
        return _fail(f"{args.lm}: LM file not found", 2)
    lm = lm_options(args.lm, args.lexicon, args.lm_weight, args.word_score)
    if args.beam < 1:
        return _fail("--beam must be >= 1", 2)
    if args.phases < 1:
        return _fail("--phases must be >= 1", 2)
    if args.phases > 1 and args.grammar not in SLOT_GRAMMARS:
        return _fail("--phases > 1 needs --grammar grid or grid-mbr (the phases' slot "
                     "posteriors are averaged)", 2)  # fmt: skip
    if len(args.dirs) % 2:
        return _fail("expected DATA_DIR OUT_DIR pairs", 2)
    for o in args.dirs[1::2]:
        if (err := check_out_dir(o)):
            return _fail(err, 2)
    am = None
    for data_dir, o in zip(args.dirs[::2], args.dirs[1::2]):
        opts = dict(frontend=args.frontend, beam=args.beam, grammar=args.grammar, lm=lm,
                    frontend_precision=args.frontend_precision, phases=args.phases,
                    am_precision=args.am_precision)  # fmt: skip
        if not args.force and decode_is_complete(args.am, data_dir, o, device=args.device,
                                                 **opts):  # fmt: skip
            print(f"skip: decode {o} (done)")
            continue
        if am is None:  # load once for every pair
            try:
                am = LoadedAM(args.am, args.device, args.am_precision)
                phase_offsets(am.stride, args.phases)
            except ValueError as e:
                return _fail(e, 2)
        r = decode(args.am, data_dir, o, device=args.device, am=am, **opts)
        print(f"{o}: WER {r['wer']:.2f}% ({r['n_err']}/{r['n_words']})")
    return 0


def _combine_decodes(args) -> int:
    from pipeline.asr.combine import combine_decodes, combine_is_complete

    if len(args.dirs) < 2:
        return _fail("expected at least two decode dirs to combine", 2)
    sets = (args.sets or "").replace(",", " ").split()
    # --sets: OUT and each DECODE_DIR are prefixes, "_<set>" appended per set
    jobs = [(f"{args.out}_{t}", [f"{d}_{t}" for d in args.dirs]) for t in sets] \
        if sets else [(args.out, args.dirs)]  # fmt: skip
    for out, dirs in jobs:
        if (err := check_out_dir(out)):
            return _fail(err, 2)
        if not args.force and combine_is_complete(out, dirs):
            print(f"skip: combine-decodes {out} (done)")
            continue
        r = combine_decodes(out, dirs)
        print(f"{out}: WER {r['wer']:.2f}% ({r['n_err']}/{r['n_words']})")
    return 0


def _make_lm(args) -> int:
    from pipeline.asr.lm import KneserNey, LMError, read_sentences

    if args.order < 1:
        return _fail("--order must be >= 1", 2)
    if Path(args.out).is_dir():
        return _fail(f"{args.out}: is a directory (expected an ARPA file path)", 2)
    try:
        sents = [s for t in args.text for s in read_sentences(t, not args.plain_text)]
    except (LMError, OSError) as e:
        return _fail(e)
    lm = KneserNey(sents, order=args.order)
    lm.write_arpa(args.out)
    print(f"{args.out}: {args.order}-gram LM, {len(lm.vocab)} words, "
          f"{len(sents)} sentences")  # fmt: skip
    return 0


def _score(args) -> int:
    from pipeline.scoring import score_exp

    try:
        split = (lambda v: v.replace(",", " ").split() if v is not None else None)
        records = score_exp(args.exp_root, ams=split(args.ams),
                            frontends=split(args.frontends))  # fmt: skip
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for r in records:
        print(f"{r['am']:10s} {r['frontend']:6s} {r['test_set']:18s} WER {r['wer']:6.2f}")
    return 0


def _report(args) -> int:
    from pipeline.scoring import write_report

    try:
        print(write_report(args.exp_root, smoke_test=args.smoke_test))
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "train-am", help="train a SpeechBrain CTC acoustic model",
        description="Trains (or resumes) a CTC acoustic model in EXP. Data-parallel: "
        "'torchrun --nproc_per_node N -m pipeline train-am ...' (SpeechBrain's DDP: "
        "each process trains on its share of the dynamic batches, so the global "
        "batch is N x max_batch_frames; rank 0 writes EXP).")  # fmt: skip
    s.add_argument("--config", default=None,
                   help="HyperPyYAML hparams (default pipeline/asr/hparams/am_default.yaml)")  # noqa: E501
    s.add_argument("--train", required=True,
                   help="DIR[,DIR...]: training data dirs; colliding utt-ids (MCT) "
                        "get -<name> suffixes (train_noisy -> -noisy)")  # fmt: skip
    s.add_argument("--dev", required=True, help="dev data dir (checkpoint selection)")
    s.add_argument("--out", required=True, type=out_dir, metavar="EXP",
                   help="model dir: resumes an interrupted run of the same request, "
                        "skips a finished one, refuses another one's")  # fmt: skip
    s.add_argument("--force", action="store_true",
                   help="remove EXP's outputs and train from scratch")
    add_device(s)
    add_threads(s)
    s.add_argument("--seed", type=int, default=None, help="overrides the config seed")
    s.add_argument("--init", default=None, metavar="AM_DIR",
                   help="start from this finished AM (its best checkpoint, tokens and "
                        "CMVN mode; the same model size) instead of random weights, "
                        "for the config's init_epochs at peak LR init_lr (every "
                        "init_<key> replaces <key>: init_speed_perturb, "
                        "init_random_phase too). Features "
                        "pasted beside the AM's own (paste-feats OUT ENH DATA) keep "
                        "its input weights for the last dims and start the others "
                        "at 0")  # fmt: skip
    add_no_progress(s)
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
    from pipeline.config import INFERENCE_PRECISIONS

    s.add_argument("--frontend-precision", default="fp32", choices=INFERENCE_PRECISIONS,
                   help="the --frontend model's arithmetic, as enhance --precision: "
                        "fp32 (default), bf16, or auto (bf16 where the CPU has "
                        "avx512_bf16 / AMX): the recipes enhance with auto, so auto "
                        "gives the features their mct_<fe> AMs were trained on")  # fmt: skip
    s.add_argument("--beam", type=int, default=None,
                   help="1: CTC best path; N > 1: CTC prefix beam search (default 1; "
                        "with --lm the lexicon search's beam, default 50)")  # fmt: skip
    s.add_argument("--lm", default=None, metavar="ARPA",
                   help="word n-gram LM (ARPA; .gz or Unix compress .z/.Z read too): "
                        "lexicon beam search with the LM (character AMs)")  # fmt: skip
    s.add_argument("--lexicon", default=None, metavar="FILE",
                   help="'word unit unit ...' lines (default: the LM's words spelt "
                        "in the AM's characters)")  # fmt: skip
    s.add_argument("--lm-weight", type=float, default=2.0,
                   help="LM log-probability scale (tune on dev; default 2.0)")
    s.add_argument("--word-score", type=float, default=0.0,
                   help="score added per word (tune on dev; default 0)")
    from pipeline.asr.grammar import GRAMMARS

    s.add_argument("--grammar", default=None, choices=GRAMMARS,
                   help="grid: search only through the GRID grammar (exact CTC "
                        "Viterbi; word-level AMs); grid-mbr: the same automaton, "
                        "each slot's most probable word summed over every "
                        "alignment (forward-backward; minimum Bayes risk); "
                        "grid-snap: snap the free hypothesis onto the grammar "
                        "afterwards")  # fmt: skip
    s.add_argument("--phases", type=int, default=1, metavar="N",
                   help="GRID grammars: decode each utterance at N subsampling phases "
                        "(the features shifted by 0, stride/N, ... frames; 1 to the "
                        "AM's stride) and average their slot posteriors, each slot "
                        "taking its most probable word (default 1; the simgrid and "
                        "chime2 Track 1 recipes use 3)")  # fmt: skip
    s.add_argument("--am-precision", default="fp32", choices=INFERENCE_PRECISIONS,
                   help="the AM's arithmetic: fp32 (default), bf16 (autocast), or "
                        "auto (bf16 when the AM was trained in bf16 and the device "
                        "runs it fast, as the recipes decode)")  # fmt: skip
    add_device(s)
    add_threads(s)
    s.set_defaults(func=_decode)

    s = sub.add_parser(
        "combine-decodes", help="system combination of GRID decodes (slot posteriors "
        "averaged: confusion network combination) -> a decode dir",
        description="Averages, utterance by utterance, the GRID slot posteriors "
        "(slot_post.ark) that 'decode --grammar grid' wrote in each DECODE_DIR (the "
        "same test set decoded by different systems) and takes each slot's most "
        "probable word (Evermann & Woodland 2000). OUT is a decode dir like any "
        "other: by contract exp/<am>/decode_<frontend>_<testset>, e.g. "
        "exp/mct_dnn+lstm/decode_dnn+lstm_test_noisy_0dB.")  # fmt: skip
    s.add_argument("--out", required=True, metavar="OUT",
                   help="the combination's decode dir (skipped when it is complete "
                        "for the same members and newer than them)")  # fmt: skip
    s.add_argument("dirs", nargs="+", metavar="DECODE_DIR",
                   help="two or more finished GRID-constrained decode dirs")
    s.add_argument("--sets", default=None, metavar="LIST",
                   help="test sets (space or comma list): OUT and each DECODE_DIR are "
                        "then prefixes, the dirs OUT_<set> and DECODE_DIR_<set>, e.g. "
                        "--out exp/mct_dnn+lstm/decode_dnn+lstm exp/mct_dnn/decode_dnn "
                        "exp/mct_lstm/decode_lstm --sets 'test_clean test_reverb'")
    s.add_argument("--force", action="store_true", help="redo a complete combination")
    s.set_defaults(func=_combine_decodes)

    s = sub.add_parser("make-lm", help="interpolated modified Kneser-Ney word n-gram "
                       "LM from transcripts -> ARPA")  # fmt: skip
    s.add_argument("--text", action="append", required=True, metavar="FILE",
                   help="Kaldi text file(s) (utt-id words...); repeat for more")
    s.add_argument("--plain-text", action="store_true",
                   help="--text files hold one sentence per line (no utt-ids)")
    s.add_argument("--order", type=int, default=3, help="n-gram order (default 3)")
    s.add_argument("--out", required=True, metavar="ARPA", help="ARPA file to write")
    s.set_defaults(func=_make_lm)

    s = sub.add_parser("score", help="EXP_ROOT/*/decode_*_*/ -> EXP_ROOT/results.json")
    s.add_argument("exp_root", help="experiment root (the recipe's exp/)")
    s.add_argument("--ams", default=None, metavar="LIST",
                   help="score only these AMs (space or comma list; default: all)")
    s.add_argument("--frontends", default=None, metavar="LIST",
                   help="score only these front-ends, and 'none' (default: all)")
    s.set_defaults(func=_score)

    s = sub.add_parser("report", help="results.json -> report.md + wer_vs_snr.png")
    s.add_argument("exp_root", help="experiment root holding results.json")
    s.add_argument("--smoke-test", action="store_true",
                   help="say in the first line that this was a smoke-test run")
    s.set_defaults(func=_report)
