"""Scoring: WER (jiwer) and GRID keyword accuracy, ``results.json``, the report.

* :func:`error_counts` — Kaldi ``compute-wer`` style counts over a test set.
* :func:`keyword_accuracy` — CHiME-2 Track 1 metric: the share of reference letter
  and digit tokens aligned to an identical hypothesis token in the minimum-edit
  alignment (Barker et al., "The second CHiME speech separation and recognition
  challenge", ICASSP 2013).
* :func:`score_exp` — scan ``EXP_ROOT/*/decode_<frontend>_<testset>/`` and write
  ``results.json`` (+ ``results.meta.json``); :func:`write_report` — ``report.md``
  and ``wer_vs_snr.png``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path

from pipeline.grid import KEYWORDS, is_grid

logger = logging.getLogger(__name__)

DECODE_META = "decode.json"  # written by decode: am, frontend, test_set, data_dir
RESULT_KEYS = ("am", "frontend", "test_set", "snr_db", "wer", "n_words", "n_err",
               "keyword_acc")  # fmt: skip


# ------------------------------------------------------------------ text files
def read_text(path: str | Path) -> dict[str, str]:
    """Kaldi text file -> {utt: "words ..."} ("" for a line with only the key)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(maxsplit=1)
            if parts:
                out[parts[0]] = parts[1] if len(parts) > 1 else ""
    return out


def write_text(path: str | Path, table: dict[str, str]) -> None:
    """Write ``utt words...`` lines sorted (C order), atomically; an empty value
    gives a line holding only the utterance id."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for utt in sorted(table):
            words = " ".join(table[utt].split())
            f.write(f"{utt} {words}\n" if words else f"{utt}\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------- metrics
def _pairs(refs: dict[str, str], hyps: dict[str, str]):
    if not refs:
        raise ValueError("empty reference set: nothing to score")
    return [(refs[u].split(), hyps.get(u, "").split()) for u in sorted(refs)]


def error_counts(refs: dict[str, str], hyps: dict[str, str]) -> dict:
    """Word errors of ``hyps`` against ``refs`` (both {utt: text}).

    An utterance missing from ``hyps`` counts as an empty hypothesis; hypotheses
    of utterances not in ``refs`` are ignored.

    Returns:
        ``{wer (percent), n_err, n_words, ins, del, sub, n_utts}``.

    Raises:
        ValueError: ``refs`` is empty or holds no words (WER is undefined).
    """
    import jiwer

    pairs = _pairs(refs, hyps)
    n_words = sum(len(r) for r, _ in pairs)
    if n_words == 0:
        raise ValueError("reference set has no words: WER is undefined")
    ins = dels = subs = 0
    scored = [(r, h) for r, h in pairs if r]
    ins += sum(len(h) for r, h in pairs if not r)  # empty ref: all insertions
    if scored:
        o = jiwer.process_words([" ".join(r) for r, _ in scored],
                                [" ".join(h) for _, h in scored])  # fmt: skip
        ins += o.insertions
        dels += o.deletions
        subs += o.substitutions
    n_err = ins + dels + subs
    return dict(wer=100.0 * n_err / n_words, n_err=n_err, n_words=n_words, ins=ins,
                dels=dels, sub=subs, n_utts=len(pairs))  # fmt: skip


def keyword_accuracy(refs: dict[str, str], hyps: dict[str, str],
                     keywords=KEYWORDS) -> float:  # fmt: skip
    """Share (percent) of reference keyword tokens (GRID: letters and digits,
    positions 4 and 5) aligned to an identical hypothesis token in the
    minimum-edit (jiwer / Levenshtein) alignment.

    Raises:
        ValueError: the reference set is empty or holds no keyword token.
    """
    import jiwer

    pairs = [(r, h) for r, h in _pairs(refs, hyps)]
    total = sum(1 for r, _ in pairs for w in r if w in keywords)
    if total == 0:
        raise ValueError("no keyword tokens in the reference set")
    correct = 0
    scored = [(r, h) for r, h in pairs if r and h]
    if scored:
        o = jiwer.process_words([" ".join(r) for r, _ in scored],
                                [" ".join(h) for _, h in scored])  # fmt: skip
        for (r, _), chunks in zip(scored, o.alignments):
            for c in chunks:
                if c.type == "equal":
                    correct += sum(1 for w in r[c.ref_start_idx:c.ref_end_idx]
                                   if w in keywords)  # fmt: skip
    return 100.0 * correct / total


def wer_line(counts: dict) -> str:
    """Kaldi ``compute-wer`` style: ``%WER 1.23 [ 5 / 406, 1 ins, 2 del, 2 sub ]``."""
    c = counts
    return (f"%WER {c['wer']:.2f} [ {c['n_err']} / {c['n_words']}, {c['ins']} ins, "
            f"{c['dels']} del, {c['sub']} sub ]")  # fmt: skip


def write_decode_scores(out_dir: str | Path, refs: dict[str, str],
                        hyps: dict[str, str]) -> dict:  # fmt: skip
    """Write ``ref``, ``hyp`` (every reference utterance present; missing
    hypotheses as empty lines) and ``wer`` in ``out_dir``. Returns the counts."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    full = {u: hyps.get(u, "") for u in refs}
    write_text(out_dir / "ref", refs)
    write_text(out_dir / "hyp", full)
    counts = error_counts(refs, full)
    tmp = out_dir / ".wer.tmp"
    tmp.write_text(wer_line(counts) + "\n")
    os.replace(tmp, out_dir / "wer")
    return counts


# ------------------------------------------------------------------ results.json
_DECODE_RE = re.compile(r"^decode_(?P<frontend>[^_]+)_(?P<test_set>.+)$")


def _decode_dirs(exp_root: Path):
    for am_dir in sorted(p for p in exp_root.iterdir() if p.is_dir()):
        for d in sorted(am_dir.glob("decode_*_*")):
            if d.is_dir() and (d / "hyp").is_file() and (d / "ref").is_file():
                yield am_dir.name, d


def _uniform_snr(path: Path) -> float | None:
    if not path.is_file():
        return None
    vals = {float(v) for v in read_text(path).values() if v}
    return vals.pop() if len(vals) == 1 else None


def score_decode_dir(am: str, d: Path) -> dict:
    """One results.json record for decode dir ``d`` of acoustic model ``am``."""
    meta = {}
    if (d / DECODE_META).is_file():
        meta = json.loads((d / DECODE_META).read_text())
    m = _DECODE_RE.match(d.name)
    frontend = meta.get("frontend") or (m.group("frontend") if m else "none")
    test_set = meta.get("test_set") or (m.group("test_set") if m else d.name)
    refs, hyps = read_text(d / "ref"), read_text(d / "hyp")
    c = error_counts(refs, hyps)
    kw = None
    if all(is_grid(r.split()) for r in refs.values()):
        try:
            kw = round(keyword_accuracy(refs, hyps), 2)
        except ValueError:
            kw = None
    return dict(am=am, frontend=frontend, test_set=test_set,
                snr_db=_uniform_snr(d / "utt2snr"), wer=round(c["wer"], 2),
                n_words=c["n_words"], n_err=c["n_err"], keyword_acc=kw)  # fmt: skip


def _meta(exp_root: Path) -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("torch", "speechbrain", "jiwer", "kaldiio", "numpy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    ams = {}
    for am_dir in sorted(p for p in exp_root.iterdir() if p.is_dir()):
        hp = am_dir / "hparams.yaml"
        if hp.is_file():
            info = {"config_sha256": hashlib.sha256(hp.read_bytes()).hexdigest()[:16]}
            if (am_dir / "am.json").is_file():
                am_json = json.loads((am_dir / "am.json").read_text())
                info["seed"] = am_json.get("seed")
                info["train"] = am_json.get("train")
            ams[am_dir.name] = info
    return {"packages": versions, "acoustic_models": ams}


def score_exp(exp_root: str | Path) -> list[dict]:
    """Score every ``EXP_ROOT/<am>/decode_<frontend>_<testset>/`` and write
    ``EXP_ROOT/results.json`` (a list of records with :data:`RESULT_KEYS`) and
    ``EXP_ROOT/results.meta.json`` (seed, config hash, package versions)."""
    exp_root = Path(exp_root)
    if not exp_root.is_dir():
        raise FileNotFoundError(f"expected an exp dir at {exp_root}, not found")
    records = [score_decode_dir(am, d) for am, d in _decode_dirs(exp_root)]
    if not records:
        raise FileNotFoundError(
            f"no decode dirs with hyp and ref under {exp_root}/*/decode_*_*/")
    for name, obj in (("results.json", records), ("results.meta.json", _meta(exp_root))):
        tmp = exp_root / f".{name}.tmp"
        tmp.write_text(json.dumps(obj, indent=1) + "\n")
        os.replace(tmp, exp_root / name)
    return records


# ----------------------------------------------------------------------- report
def _condition(test_set: str) -> str:
    """``test_noisy_0dB`` -> ``noisy_0dB`` (the split prefix dropped)."""
    return test_set.split("_", 1)[1] if "_" in test_set else test_set


def _columns(recs: list[dict]) -> list[tuple[str, str]]:
    """(column key, header) in order: clean, reverb, noisy, SNRs low to high."""
    conds = {}
    for r in recs:
        conds.setdefault(_condition(r["test_set"]), r["snr_db"])

    def order(c):
        snr = conds[c]
        fixed = {"clean": 0, "reverb": 1, "noisy": 2}
        if c in fixed:
            return (fixed[c], 0.0, c)
        return (3, snr if snr is not None else 1e9, c)

    cols = sorted(conds, key=order)
    return [(c, f"{conds[c]:g} dB" if conds[c] is not None and c not in ("clean", "reverb", "noisy") else c) for c in cols]  # noqa: E501


def _fmt(v, best=False):
    if v is None:
        return "–"
    s = f"{v:.2f}"
    return f"**{s}**" if best else s


def _am_order(am: str) -> tuple:
    return ({"clean": 0, "mct": 1}.get(am, 2), am)


def _fe_order(fe: str) -> tuple:
    return (fe != "none", fe)


def write_report(exp_root: str | Path, records: list[dict] | None = None) -> Path:
    """Write ``EXP_ROOT/report.md`` (one WER table per acoustic model: rows
    front-ends, columns test conditions + the average over SNRs, best per column
    in bold, relative change vs front-end ``none``) and ``EXP_ROOT/wer_vs_snr.png``.
    Reads ``results.json`` unless ``records`` is given."""
    exp_root = Path(exp_root)
    if records is None:
        path = exp_root / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"expected {path} (run `pipeline score` first)")
        records = json.loads(path.read_text())
    lines = ["# WER report", "",
             f"WER in percent, from `{exp_root.name}/results.json`. 'avg SNR' is the "
             "mean WER over the fixed-SNR noisy test sets; bold: best front-end per "
             "column. 'rel. vs none': relative change of 'avg SNR' WER against the "
             "same AM without a front-end, or for an AM trained on enhanced features "
             "(`mct_<fe>`) against `mct` without one (negative = better).", ""]  # fmt: skip
    by_am: dict[str, list[dict]] = {}
    for r in records:
        by_am.setdefault(r["am"], []).append(r)
    base_recs = [r for r in records if r["frontend"] == "none"]
    if len({r["am"] for r in base_recs}) > 1:  # AMs side by side, no front-end
        cols = _columns(base_recs)
        lines += ["## Acoustic models compared (front-end `none`)", "",
                  "| AM | " + " | ".join(h for _, h in cols) + " |",
                  "|---|" + "---:|" * len(cols)]  # fmt: skip
        for am in sorted({r["am"] for r in base_recs}, key=_am_order):
            row = {_condition(r["test_set"]): r["wer"] for r in base_recs if r["am"] == am}
            lines.append(f"| {am} | " + " | ".join(_fmt(row.get(c)) for c, _ in cols) + " |")  # noqa: E501
        lines.append("")
    for am in sorted(by_am, key=_am_order):
        recs = by_am[am]
        cols = _columns(recs)
        snr_cols = [c for c, _ in cols if any(
            _condition(r["test_set"]) == c and r["snr_db"] is not None for r in recs)
            and c != "noisy"]  # fmt: skip
        fes = sorted({r["frontend"] for r in recs}, key=_fe_order)
        table = {}
        for fe in fes:
            row = {_condition(r["test_set"]): r["wer"] for r in recs if r["frontend"] == fe}
            vals = [row[c] for c in snr_cols if c in row]
            row["avg"] = (sum(vals) / len(vals)
                          if snr_cols and len(vals) == len(snr_cols) else None)  # fmt: skip
            table[fe] = row
        keys = [c for c, _ in cols] + ["avg"]
        heads = [h for _, h in cols] + ["avg SNR"]
        best = {k: min((table[fe].get(k) for fe in fes
                        if table[fe].get(k) is not None), default=None) for k in keys}  # fmt: skip
        lines += [f"## AM `{am}`", "",
                  "| front-end | " + " | ".join(heads) + " | rel. vs none |",
                  "|---|" + "---:|" * (len(heads) + 1)]  # fmt: skip
        base = table.get("none", {}).get("avg")
        if base is None and am.startswith("mct_") and "mct" in by_am:
            # an AM trained on enhanced features: its baseline is MCT, no front-end
            mct = {_condition(r["test_set"]): r["wer"] for r in by_am["mct"]
                   if r["frontend"] == "none"}  # fmt: skip
            if snr_cols and all(c in mct for c in snr_cols):
                base = sum(mct[c] for c in snr_cols) / len(snr_cols)
        for fe in fes:
            row = table[fe]
            cells = [_fmt(row.get(k), best=len(fes) > 1 and row.get(k) is not None
                          and row.get(k) == best[k]) for k in keys]  # fmt: skip
            rel = ("–" if fe == "none" or not base or row["avg"] is None
                   else f"{100.0 * (row['avg'] - base) / base:+.1f}%")  # fmt: skip
            lines.append(f"| {fe} | " + " | ".join(cells) + f" | {rel} |")
        kw = [r for r in recs if r["keyword_acc"] is not None]
        if kw:
            lines += ["", "Keyword (letter + digit) accuracy, percent:", "",
                      "| front-end | " + " | ".join(h for _, h in cols) + " |",
                      "|---|" + "---:|" * len(cols)]  # fmt: skip
            for fe in fes:
                row = {_condition(r["test_set"]): r["keyword_acc"] for r in kw
                       if r["frontend"] == fe}  # fmt: skip
                lines.append(f"| {fe} | " + " | ".join(_fmt(row.get(c)) for c, _ in cols) + " |")  # noqa: E501
        lines.append("")
    lines += ["![WER vs SNR](wer_vs_snr.png)", ""]
    out = exp_root / "report.md"
    tmp = exp_root / ".report.md.tmp"
    tmp.write_text("\n".join(lines))
    os.replace(tmp, out)
    plot_wer_vs_snr(records, exp_root / "wer_vs_snr.png")
    return out


def plot_wer_vs_snr(records: list[dict], path: str | Path) -> Path:
    """WER (%) against SNR (dB), one line per (AM, front-end): colour = front-end,
    line style = AM (dashed ``clean``, solid ``mct``, thick ``mct_<fe>``), so a
    front-end's lines read together; the legend sits outside the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.8))
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["am"], r["frontend"]), []).append(r)
    frontends = sorted({fe for _, fe in groups}, key=_fe_order)
    colour = {fe: f"C{i % 10}" for i, fe in enumerate(frontends)}
    for am, fe in sorted(groups, key=lambda k: (_am_order(k[0]), _fe_order(k[1]))):
        pts = sorted((r["snr_db"], r["wer"]) for r in groups[(am, fe)]
                     if r["snr_db"] is not None and _condition(r["test_set"]) != "noisy")  # fmt: skip
        if not pts:
            continue
        style = {"clean": dict(ls="--", lw=1.2, marker="s"),
                 "mct": dict(ls="-", lw=1.2, marker="o")}.get(
                     am, dict(ls="-", lw=2.6, marker="D"))  # fmt: skip
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colour[fe],
                ms=4, label=f"AM {am}, front-end {fe}", **style)  # fmt: skip
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("WER (%)")
    ax.set_ylim(bottom=0)
    ax.set_title("WER vs SNR (colour: front-end; dashed: clean AM, solid: MCT AM, "
                 "thick: MCT AM on enhanced features)", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path.with_name(f".{path.stem}.tmp.png"), dpi=120)
    plt.close(fig)
    os.replace(path.with_name(f".{path.stem}.tmp.png"), path)
    return path
