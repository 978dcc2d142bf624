"""Verbs ``train-enhancer``, ``eval-enhancer`` and ``enhance`` (registered with
``python -m pipeline``). Top-level imports stay light: torch loads on use."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.cli import add_device, add_no_progress, add_threads


# what train-enhancer writes in EXP (--force removes them)
ENHANCER_OUTPUTS = ("ckpt", "model.pt", "metrics.json", "config.yaml",
                    "config.source.yaml")


def _dirs(values) -> list[str]:
    """Repeated options and comma lists -> one flat list."""
    out = []
    for v in values or []:
        out += [p for p in v.split(",") if p]
    return out


def _fail(e, code=1) -> int:
    print(f"error: {e}", file=sys.stderr)
    return code


def cmd_train(a) -> int:
    from pipeline.enhance.train import load_config
    from pipeline.stamp import config_hash, inputs_stamp, make_request, skip_or_refuse

    try:
        conf = load_config(a.config, overrides=a.overrides)
    except (ValueError, OSError) as e:
        return _fail(e, 2)
    if a.seed is not None:
        conf["seed"] = int(a.seed)
    reverb = conf["target"] == "reverb"
    tgt, dev_tgt = (a.reverb, a.dev_reverb) if reverb else (a.clean, a.dev_clean)
    if not tgt or not dev_tgt:
        opt = "--reverb/--dev-reverb" if reverb else "--clean/--dev-clean"
        return _fail(f"target '{conf['target']}' in {a.config} needs {opt}", 2)
    dirs = dict(noisy=_dirs(a.noisy), target=_dirs(tgt), dev_noisy=_dirs(a.dev_noisy),
                dev_target=_dirs(dev_tgt))  # fmt: skip
    request = make_request("train-enhancer", config_hash(conf), inputs_stamp(**dirs))
    rc = skip_or_refuse("train-enhancer", a.out, request, ENHANCER_OUTPUTS, a.force,
                        device=a.device)  # fmt: skip
    if rc is not None:
        return rc
    import torch

    from pipeline import distributed as ddp
    from pipeline.enhance.gan import TrainingDiverged
    from pipeline.enhance.train import train_enhancer
    from pipeline.stamp import write_request

    torch.set_num_threads(a.threads) if a.threads else None
    write_request(a.out, request)
    try:
        m = train_enhancer(conf, dirs["noisy"], dirs["target"], dirs["dev_noisy"],
                           dirs["dev_target"], a.out, device=a.device,
                           progress=not a.no_progress, source=a.config,
                           stream_above=a.stream_above,
                           block_frames=a.stream_block)  # fmt: skip
    except ValueError as e:
        return _fail(e, 2)
    except TrainingDiverged as e:  # the message names the epoch and step
        return _fail(e, 1)
    main = ddp.is_main()
    ddp.destroy()  # torchrun: every rank leaves the group (no-op otherwise)
    if not main:
        return 0
    d = m["dev"]["all"]
    print(f"{a.out}: best epoch {m['best_epoch']}, dev MSE {d.get('input_mse', '-')} "
          f"-> {d['enh_mse']}, LSD {d.get('input_lsd_db', '-')} -> "
          f"{d['enh_lsd_db']} dB")  # fmt: skip
    return 0


def add_precision(s) -> None:
    from pipeline.config import INFERENCE_PRECISIONS

    s.add_argument("--precision", default="fp32", choices=INFERENCE_PRECISIONS,
                   help="the model's arithmetic: fp32, or bf16 autocast (as the recipes' "
                        "front-ends train; about twice as fast on a CPU with "
                        "avx512_bf16 / AMX); auto: bf16 where the CPU has those, else "
                        "fp32 (default fp32)")  # fmt: skip


def cmd_eval(a) -> int:
    import torch

    from pipeline.enhance.data import grouped_metrics
    from pipeline.enhance.enhancer import EnhancerError, FeatureEnhancer
    from pipeline.enhance.train import pairs, update_metrics

    torch.set_num_threads(a.threads) if a.threads else None
    try:
        enh = FeatureEnhancer.load(a.model, device=a.device, precision=a.precision)
    except EnhancerError as e:
        return _fail(e)
    noisy, clean = _dirs(a.noisy), _dirs(a.clean)
    names = _dirs(a.name) or [p.rstrip("/").rsplit("/", 1)[-1] for p in noisy]
    if len(names) != len(noisy):
        return _fail(f"{len(names)} names for {len(noisy)} noisy dirs", 2)
    if len(clean) not in (1, len(noisy)):
        return _fail(f"{len(noisy)} noisy dirs but {len(clean)} clean dirs", 2)
    by = ("all",) + tuple(a.by)
    from pipeline.stamp import file_id, inputs_stamp

    done = {}
    if (Path(a.model) / "metrics.json").is_file():
        done = json.loads((Path(a.model) / "metrics.json").read_text()).get("eval", {})
    for i, (n, name) in enumerate(zip(noisy, names)):
        c = clean[0] if len(clean) == 1 else clean[i]
        request = {"model": file_id(Path(a.model) / "model.pt"), "by": list(by),
                   **inputs_stamp(noisy=[n], clean=[c])}  # fmt: skip
        if enh.precision != "fp32":  # (fp32 results keep their earlier requests)
            request["precision"] = enh.precision
        if (done.get(name) or {}).get("request") == request:
            print(f"skip: eval-enhancer {a.model} {name} (done)")
            continue
        data = pairs([n], [c], enh.input_kind)
        outs = enh.enhance_batch(data.inputs, "fbank")
        res = grouped_metrics(outs, data, by)
        update_metrics(a.model, {"noisy": n, "clean": c, "metrics": res,
                                 "request": request}, eval_name=name)  # fmt: skip
        for g, r in res.items():
            print(f"{name:18s} {g:26s} MSE {r.get('input_mse', float('nan')):8.4f} -> "
                  f"{r['enh_mse']:8.4f}  LSD {r.get('input_lsd_db', float('nan')):6.3f}"
                  f" -> {r['enh_lsd_db']:6.3f} dB  ({r['n_utts']} utts)")  # fmt: skip
    return 0


def cmd_enhance(a) -> int:
    from pipeline.cli import check_out_dir

    if len(a.dirs) % 2:
        return _fail("expected IN_DIR OUT_DIR pairs", 2)
    for out_dir in a.dirs[1::2]:
        if (err := check_out_dir(out_dir)):
            return _fail(err, 2)
    import torch

    from pipeline.enhance.enhancer import EnhancerError, FeatureEnhancer

    torch.set_num_threads(max(1, a.threads))
    try:
        enh = FeatureEnhancer.load(a.model, device=a.device, precision=a.precision)
    except EnhancerError as e:
        return _fail(e)
    for in_dir, out_dir in zip(a.dirs[0::2], a.dirs[1::2]):
        kind = a.kind or enh.output_kind
        if not a.force and enh.is_enhanced(in_dir, out_dir, kind):
            print(f"skip: enhance {out_dir} (done)")
            continue
        try:
            d = enh.enhance_datadir(in_dir, out_dir, kind=kind, force=True,
                                    progress=not a.no_progress)  # fmt: skip
        except EnhancerError as e:
            return _fail(e)
        print(f"{out_dir}: {len(d)} utterances enhanced ({kind})")
    return 0


def register(sub) -> None:
    s = sub.add_parser(
        "train-enhancer",
        help="train a front-end (dnn|lstm|gan) on parallel data dirs",
        description="Pairs noisy dirs with target dirs by utt-id (frame counts must "
        "agree). --noisy/--clean may repeat or take comma lists: one clean dir is "
        "paired with every noisy dir, or one per noisy dir (MCT: noisy + reverb "
        "inputs). With 'target: reverb' in the config, --reverb/--dev-reverb give "
        "the targets instead. Resumes from EXP/ckpt/last.pt. Data-parallel: "
        "'torchrun --nproc_per_node N -m pipeline train-enhancer ...' (each "
        "process takes 1/N of every minibatch; rank 0 writes EXP).",
    )  # fmt: skip
    s.add_argument("--config", required=True, help="HyperPyYAML config")
    s.add_argument("--overrides", default=None, metavar="YAML",
                   help="config overrides as YAML, e.g. 'target: reverb' or "
                        "'{training: {epochs: 2}}'")  # fmt: skip
    helps = {"noisy": "input (corrupted) data dir(s) with feats.scp",
             "clean": "clean target dir(s): one, or one per --noisy dir",
             "reverb": "reverberant target dir(s), for 'target: reverb' configs",
             "dev-noisy": "dev input dir(s): early stopping and model selection",
             "dev-clean": "dev clean target dir(s)",
             "dev-reverb": "dev reverberant target dir(s) ('target: reverb')"}
    for opt, h in helps.items():
        s.add_argument(f"--{opt}", action="append", metavar="DIR", help=h,
                       required=opt in ("noisy", "dev-noisy"))  # fmt: skip
    s.add_argument("--out", required=True, metavar="EXP",
                   help="experiment dir: resumes an interrupted run of the same "
                        "request, skips a finished one, refuses another one's")  # fmt: skip
    s.add_argument("--force", action="store_true",
                   help="remove EXP's outputs and train from scratch")
    add_device(s)
    s.add_argument("--seed", type=int, default=None, help="overrides the config's seed")
    add_threads(s, default=0)
    add_no_progress(s)
    from pipeline.enhance import STREAM_ABOVE_FRAMES, STREAM_BLOCK_FRAMES

    s.add_argument("--stream-above", type=int, default=STREAM_ABOVE_FRAMES,
                   metavar="FRAMES",
                   help="stream a training set of more frames from its arks in "
                        "shuffled blocks instead of loading it (memory: one block; "
                        f"default {STREAM_ABOVE_FRAMES:,}; 0: always)")  # fmt: skip
    s.add_argument("--stream-block", type=int, default=STREAM_BLOCK_FRAMES,
                   metavar="FRAMES",
                   help=f"frames per streamed block (default {STREAM_BLOCK_FRAMES:,})")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser(
        "eval-enhancer",
        help="feature MSE / LSD to clean of noisy and enhanced features; appends "
        "to EXP/metrics.json",
    )  # fmt: skip
    s.add_argument("--model", required=True, metavar="EXP",
                   help="front-end model dir (train-enhancer's --out)")
    s.add_argument("--noisy", action="append", required=True, metavar="DIR",
                   help="input dir(s) to score (repeat or comma list)")
    s.add_argument("--clean", action="append", required=True, metavar="DIR",
                   help="clean reference dir: one, or one per --noisy dir")
    s.add_argument("--name", action="append", help="record name(s) (default: dir name)")
    s.add_argument("--by", nargs="*", default=["snr", "cond"], choices=["snr", "cond"],
                   help="also group by these utterance labels")  # fmt: skip
    add_precision(s)
    add_device(s)
    add_threads(s, default=0)
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("enhance", help="write enhanced features as a new data dir")
    s.add_argument("--model", required=True, metavar="EXP",
                   help="front-end model dir (train-enhancer's --out)")
    s.add_argument("dirs", nargs="+", metavar="IN_DIR OUT_DIR",
                   help="one or more IN_DIR OUT_DIR pairs")  # fmt: skip
    s.add_argument("--kind", choices=["fbank", "mfcc"], default=None,
                   help="output features (default: the model's output_kind)")  # fmt: skip
    add_threads(s, default=1)
    add_device(s)
    add_precision(s)
    s.add_argument("--force", action="store_true",
                   help="redo outputs that are complete for this model and kind")
    add_no_progress(s)
    s.set_defaults(func=cmd_enhance)
