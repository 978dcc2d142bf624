"""``python -m pipeline <verb> ...``: the toolkit's command line.

Data-dir and feature verbs live here; subpackages add theirs in ``<pkg>/cli.py``.

Exit codes: 0 ok, 1 bad data (the message names the file and line), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import add_no_progress, out_dir
from pipeline.datadir import DataDir, DataDirError



def _channel(s: str):
    if s in ("mean", "left", "right"):
        return {"left": 0, "right": 1}.get(s, s)
    try:
        return int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"channel must be an index, left, right or mean, not '{s}'"
        ) from None


def _read_list(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [ln.split()[0] for ln in f if ln.strip()]


# ----------------------------------------------------------------------- verbs
def cmd_validate(a) -> int:
    for path in a.data_dirs:
        d = DataDir.load(path)
        d.validate(check_feats=not a.no_feats, sample_rate=a.sample_rate)
        print(f"{path}: valid Kaldi data dir ({len(d)} utterances, "
              f"{len(d.speakers)} speakers)")  # fmt: skip
    return 0


def cmd_fix(a) -> int:
    d = DataDir.load(a.data_dir)
    fixed, removed = d.fix()
    fixed.save(a.data_dir)
    print(f"{a.data_dir}: kept {len(fixed)} utterances, removed {removed}")
    return 0


def cmd_subset(a) -> int:
    d = DataDir.load(a.in_dir).validate(check_files=False, check_feats=False)
    utts = _read_list(a.utt_list) if a.utt_list else None
    spks = _read_list(a.spk_list) if a.spk_list else None
    out = d.subset(utts=utts, speakers=spks, first=a.first)
    if not len(out):
        raise DataDirError("subset is empty", path=a.in_dir)
    out.save(a.out_dir)
    print(f"{a.out_dir}: {len(out)} of {len(d)} utterances")
    return 0


def cmd_split(a) -> int:
    d = DataDir.load(a.data_dir).validate(check_files=False, check_feats=False)
    parts = d.split(a.n, per_utt=a.per_utt)
    base = Path(a.data_dir) / (f"split{a.n}utt" if a.per_utt else f"split{a.n}")
    for i, part in enumerate(parts, 1):
        part.save(base / str(i))
    print(f"{base}: {a.n} parts of {', '.join(str(len(p)) for p in parts)} utterances")
    return 0


def cmd_copy(a) -> int:
    d = DataDir.load(a.in_dir).validate(check_files=False, check_feats=False)
    n, sfx = a.strip_utt_suffix, a.utt_suffix

    def rename(utt: str) -> str:
        return (utt[:-n] if n else utt) + sfx

    out = d.map_utts(rename)
    out.save(a.out_dir)
    print(f"{a.out_dir}: {len(out)} utterances (e.g. {d.utts[0]} -> {rename(d.utts[0])})")
    return 0


def cmd_combine(a) -> int:
    dirs = [DataDir.load(p).validate(check_files=False, check_feats=False)
            for p in a.in_dirs]  # fmt: skip
    suffixes = a.utt_suffixes.split(",") if a.utt_suffixes else None
    if suffixes is not None and len(suffixes) != len(dirs):
        print(f"combine-data-dirs: {len(suffixes)} suffixes for {len(dirs)} dirs",
              file=sys.stderr)  # fmt: skip
        return 2
    out = DataDir.combine(dirs, utt_suffixes=suffixes)
    out.save(a.out_dir)
    print(f"{a.out_dir}: {len(out)} utterances from {len(dirs)} dirs")
    return 0


def cmd_make_feats(a) -> int:
    from pipeline.make_feats import has_feats, make_feats, merge_split_feats

    for path in a.data_dirs:
        if a.merge_split:
            d = merge_split_feats(path, a.merge_split, a.kind)
            print(f"{path}: {a.kind} features of {a.merge_split} parts, {len(d)} utterances")
            continue
        if not a.force and has_feats(DataDir.load(path), a.kind):
            print(f"skip: make-feats {path} ({a.kind} done)")
            continue
        d = make_feats(
            path, a.kind, nj=a.nj, ark_dir=a.ark_dir, channel=a.channel,
            sample_rate=a.sample_rate, resample=a.resample,
            progress=not a.no_progress, force=a.force,
        )  # fmt: skip
        print(f"{path}: {a.kind} features for {len(d)} utterances")
    return 0


def cmd_paste_feats(a) -> int:
    from pipeline.make_feats import is_pasted, paste_feats

    if len(a.in_dirs) < 2:
        print("paste-feats: give at least two input dirs", file=sys.stderr)
        return 2
    sets = a.sets.split() if a.sets else [None]
    for s in sets:  # --sets: OUT_DIR and IN_DIRs are roots holding each set
        out, ins = (a.out_dir, a.in_dirs) if s is None else (
            str(Path(a.out_dir) / s), [str(Path(p) / s) for p in a.in_dirs])
        if not a.force and is_pasted(ins, out):
            print(f"skip: paste-feats {out} (done)")
            continue
        d = paste_feats(ins, out, force=True, progress=not a.no_progress)
        print(f"{out}: {len(d)} utterances, features of {len(ins)} dirs side by side")
    return 0


# ----------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Robust-ASR pipeline tools: Kaldi data dirs and features.",
        epilog="Run 'python -m pipeline VERB --help' for a verb's options.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="verb", metavar="VERB", required=True)

    s = sub.add_parser("validate-data-dir",
                       help="check data dirs against Kaldi's rules")  # fmt: skip
    s.add_argument("data_dirs", nargs="+", metavar="DATA_DIR", help="data dirs to check")
    s.add_argument("--no-feats", action="store_true",
                   help="do not read feats.scp/cmvn.scp matrices")  # fmt: skip
    s.add_argument("--sample-rate", type=int, default=None,
                   help="also read every wav header and require this rate (Hz)")  # fmt: skip
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("fix-data-dir",
                       help="sort, and drop utterances missing from any file")  # fmt: skip
    s.add_argument("data_dir", help="data dir, fixed in place")
    s.set_defaults(func=cmd_fix)

    s = sub.add_parser("subset-data-dir", help="copy a subset of utterances")
    s.add_argument("in_dir", help="source data dir")
    s.add_argument("out_dir", type=out_dir, help="where the subset goes")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--utt-list", help="file whose first column lists utterances")
    g.add_argument("--spk-list", help="file whose first column lists speakers")
    g.add_argument("--first", type=int, help="the first N utterances in C order")
    s.set_defaults(func=cmd_subset)

    s = sub.add_parser("split-data-dir",
                       help="split into DIR/splitN/{1..N} (by speaker)")  # fmt: skip
    s.add_argument("data_dir", help="data dir to split")
    s.add_argument("n", type=int, help="number of parts")
    s.add_argument("--per-utt", action="store_true",
                   help="split by utterance (DIR/splitNutt), speakers may span parts")  # fmt: skip
    s.set_defaults(func=cmd_split)

    s = sub.add_parser("copy-data-dir",
                       help="copy a data dir, optionally renaming utterances")  # fmt: skip
    s.add_argument("in_dir", help="source data dir")
    s.add_argument("out_dir", type=out_dir, help="where the copy goes")
    s.add_argument("--utt-suffix", default="", help="append to every utt-id")
    s.add_argument("--strip-utt-suffix", type=int, default=0, metavar="N",
                   help="drop the last N characters of every utt-id first (e.g. the "
                        "CHiME-2 Track 2 condition digit, to pair noisy with reverb)")  # fmt: skip
    s.set_defaults(func=cmd_copy)

    s = sub.add_parser("combine-data-dirs", help="union of data dirs")
    s.add_argument("out_dir", type=out_dir, help="where the union goes")
    s.add_argument("in_dirs", nargs="+", help="data dirs to combine")
    s.add_argument("--utt-suffixes",
                   help="comma-separated suffix per input dir, appended to utt-ids "
                        "(needed for parallel dirs that share ids, e.g. MCT)")  # fmt: skip
    s.set_defaults(func=cmd_combine)

    s = sub.add_parser("make-feats",
                       help="Kaldi-compatible fbank/MFCC + CMVN stats (ark/scp)")  # fmt: skip
    s.add_argument("data_dirs", nargs="+", metavar="DATA_DIR",
                   help="data dirs (feats.scp and cmvn.scp are written into each)")
    s.add_argument("--kind", default="fbank", choices=["fbank", "mfcc", "mfcc_hires"],
                   help="fbank: 40-d log-mel; mfcc: 13 ceps; mfcc_hires: 40 ceps")  # fmt: skip
    s.add_argument("--nj", type=int, default=1, help="parallel jobs (processes)")
    s.add_argument("--ark-dir", default=None, help="where arks go (default DIR/data)")
    s.add_argument("--channel", type=_channel, default=None,
                   help="channel of multi-channel audio: index, left, right or mean "
                        "(default: the dir's 'channel' file, else 0 as Kaldi)")  # fmt: skip
    s.add_argument("--sample-rate", type=int, default=16000, help="expected rate (Hz)")
    s.add_argument("--resample", action="store_true",
                   help="resample audio of another rate instead of failing")  # fmt: skip
    s.add_argument("--force", action="store_true",
                   help="recompute even if complete features of this kind exist")  # fmt: skip
    s.add_argument("--merge-split", type=int, default=0, metavar="N",
                   help="compute nothing: give each DATA_DIR the features that "
                        "make-feats wrote in its parts DATA_DIR/splitN/{1..N} "
                        "(split-data-dir; e.g. one cluster job per part)")  # fmt: skip
    add_no_progress(s)
    s.set_defaults(func=cmd_make_feats)

    s = sub.add_parser("paste-feats",
                       help="a data dir whose features are several dirs' side by side "
                            "(Kaldi's paste-feats), e.g. enhanced + noisy")  # fmt: skip
    s.add_argument("out_dir", type=out_dir,
                   help="where the pasted dir goes (a copy of the first input)")
    s.add_argument("in_dirs", nargs="+", metavar="IN_DIR",
                   help="data dirs with features of the same utterances and frame "
                        "counts, pasted in this order (at least two)")  # fmt: skip
    s.add_argument("--sets", default=None, metavar="LIST",
                   help="space-separated data dir names: OUT_DIR and each IN_DIR are "
                        "roots, and OUT_DIR/<set> = IN_DIR/<set> ... for each set "
                        "(one process for many dirs)")  # fmt: skip
    s.add_argument("--force", action="store_true",
                   help="redo even if a complete output of the same inputs exists")
    add_no_progress(s)
    s.set_defaults(func=cmd_paste_feats)
    for module in _plugin_clis():
        module.register(sub)
    return p


def _plugin_clis():
    """Each subpackage ``pipeline/<pkg>/cli.py`` adds its verbs with
    ``register(subparsers)`` (keep its top-level imports light: --help loads it)."""
    import importlib
    import importlib.util
    import pkgutil

    import pipeline

    for info in sorted(pkgutil.iter_modules(pipeline.__path__), key=lambda i: i.name):
        if info.ispkg and importlib.util.find_spec(f"pipeline.{info.name}.cli"):
            yield importlib.import_module(f"pipeline.{info.name}.cli")


def main(argv=None) -> int:
    from pipeline.audio import AudioError
    from pipeline.cli import run

    return run(build_parser(), argv, data_errors=(DataDirError, AudioError))


if __name__ == "__main__":
    sys.exit(main())
