"""Verbs ``train-enhancer``, ``eval-enhancer`` and ``enhance`` (registered with
``python -m pipeline``). Top-level imports stay light: torch loads on use."""

from __future__ import annotations

import sys


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
    import torch

    from pipeline.enhance.gan import TrainingDiverged
    from pipeline.enhance.train import load_config, train_enhancer

    torch.set_num_threads(a.threads) if a.threads else None
    try:
        conf = load_config(a.config, overrides=a.overrides)
    except (ValueError, OSError) as e:
        return _fail(e, 2)
    reverb = conf["target"] == "reverb"
    tgt, dev_tgt = (a.reverb, a.dev_reverb) if reverb else (a.clean, a.dev_clean)
    if not tgt or not dev_tgt:
        opt = "--reverb/--dev-reverb" if reverb else "--clean/--dev-clean"
        return _fail(f"target '{conf['target']}' in {a.config} needs {opt}", 2)
    try:
        m = train_enhancer(conf, _dirs(a.noisy), _dirs(tgt), _dirs(a.dev_noisy),
                           _dirs(dev_tgt), a.out, device=a.device, seed=a.seed,
                           progress=not a.no_progress)  # fmt: skip
    except ValueError as e:
        return _fail(e, 2)
    except TrainingDiverged as e:  # the message names the epoch and step
        return _fail(e, 1)
    import shutil

    shutil.copyfile(a.config, f"{a.out}/config.source.yaml")
    d = m["dev"]["all"]
    print(f"{a.out}: best epoch {m['best_epoch']}, dev MSE {d.get('input_mse', '-')} "
          f"-> {d['enh_mse']}, LSD {d.get('input_lsd_db', '-')} -> "
          f"{d['enh_lsd_db']} dB")  # fmt: skip
    return 0


def cmd_eval(a) -> int:
    import torch

    from pipeline.enhance.data import grouped_metrics
    from pipeline.enhance.enhancer import EnhancerError, FeatureEnhancer
    from pipeline.enhance.train import pairs, update_metrics

    torch.set_num_threads(a.threads) if a.threads else None
    try:
        enh = FeatureEnhancer.load(a.model, device=a.device)
    except EnhancerError as e:
        return _fail(e)
    noisy, clean = _dirs(a.noisy), _dirs(a.clean)
    names = _dirs(a.name) or [p.rstrip("/").rsplit("/", 1)[-1] for p in noisy]
    if len(names) != len(noisy):
        return _fail(f"{len(names)} names for {len(noisy)} noisy dirs", 2)
    if len(clean) not in (1, len(noisy)):
        return _fail(f"{len(noisy)} noisy dirs but {len(clean)} clean dirs", 2)
    by = ("all",) + tuple(a.by)
    for i, (n, name) in enumerate(zip(noisy, names)):
        data = pairs([n], [clean[0] if len(clean) == 1 else clean[i]], enh.input_kind)
        outs = enh.enhance_batch(data.inputs, "fbank")
        res = grouped_metrics(outs, data, by)
        update_metrics(a.model, {"noisy": n, "clean": clean[min(i, len(clean) - 1)],
                                 "metrics": res}, eval_name=name)  # fmt: skip
        for g, r in res.items():
            print(f"{name:18s} {g:26s} MSE {r.get('input_mse', float('nan')):8.4f} -> "
                  f"{r['enh_mse']:8.4f}  LSD {r.get('input_lsd_db', float('nan')):6.3f}"
                  f" -> {r['enh_lsd_db']:6.3f} dB  ({r['n_utts']} utts)")  # fmt: skip
    return 0


def cmd_enhance(a) -> int:
    import torch

    from pipeline.enhance.enhancer import EnhancerError, FeatureEnhancer

    torch.set_num_threads(max(1, a.nj))
    try:
        enh = FeatureEnhancer.load(a.model, device=a.device)
    except EnhancerError as e:
        return _fail(e)
    for in_dir, out_dir in zip(a.dirs[0::2], a.dirs[1::2]):
        d = enh.enhance_datadir(in_dir, out_dir, kind=a.kind, force=a.force,
                                progress=not a.no_progress)  # fmt: skip
        print(f"{out_dir}: {len(d)} utterances enhanced ({a.kind or enh.output_kind})")
    return 0 if len(a.dirs) % 2 == 0 else _fail("expected IN_DIR OUT_DIR pairs", 2)


def register(sub) -> None:
    s = sub.add_parser(
        "train-enhancer",
        help="train a front-end (dnn|lstm|gan) on parallel data dirs",
        description="Pairs noisy dirs with target dirs by utt-id (frame counts must "
        "agree). --noisy/--clean may repeat or take comma lists: one clean dir is "
        "paired with every noisy dir, or one per noisy dir (MCT: noisy + reverb "
        "inputs). With 'target: reverb' in the config, --reverb/--dev-reverb give "
        "the targets instead. Resumes from EXP/ckpt/last.pt.",
    )  # fmt: skip
    s.add_argument("--config", required=True, help="HyperPyYAML config")
    s.add_argument("--overrides", default=None, metavar="YAML",
                   help="config overrides as YAML, e.g. 'target: reverb' or "
                        "'{training: {epochs: 2}}'")  # fmt: skip
    for opt in ("noisy", "clean", "reverb", "dev-noisy", "dev-clean", "dev-reverb"):
        s.add_argument(f"--{opt}", action="append", metavar="DIR",
                       required=opt in ("noisy", "dev-noisy"))  # fmt: skip
    s.add_argument("--out", required=True, metavar="EXP", help="experiment dir")
    s.add_argument("--device", default="cpu", help="cpu | cuda")
    s.add_argument("--seed", type=int, default=None, help="overrides the config")
    s.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser(
        "eval-enhancer",
        help="feature MSE / LSD to clean of noisy and enhanced features; appends "
        "to EXP/metrics.json",
    )  # fmt: skip
    s.add_argument("--model", required=True, metavar="EXP")
    s.add_argument("--noisy", action="append", required=True, metavar="DIR")
    s.add_argument("--clean", action="append", required=True, metavar="DIR")
    s.add_argument("--name", action="append", help="record name(s) (default: dir name)")
    s.add_argument("--by", nargs="*", default=["snr", "cond"], choices=["snr", "cond"],
                   help="also group by these utterance labels")  # fmt: skip
    s.add_argument("--device", default="cpu")
    s.add_argument("--threads", type=int, default=0)
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("enhance", help="write enhanced features as a new data dir")
    s.add_argument("--model", required=True, metavar="EXP")
    s.add_argument("dirs", nargs="+", metavar="IN_DIR OUT_DIR",
                   help="one or more IN_DIR OUT_DIR pairs")  # fmt: skip
    s.add_argument("--kind", choices=["fbank", "mfcc"], default=None,
                   help="output features (default: the model's output_kind)")  # fmt: skip
    s.add_argument("--nj", type=int, default=1, help="torch threads")
    s.add_argument("--device", default="cpu")
    s.add_argument("--force", action="store_true")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_enhance)
