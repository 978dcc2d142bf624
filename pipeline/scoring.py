"""Scoring: WER (jiwer) and GRID keyword accuracy, ``results.json``, the report.

* :func:`error_counts` — Kaldi ``compute-wer`` style counts over a test set.
* :func:`keyword_accuracy` — CHiME-2 Track 1 metric: the share of reference letter
  and digit tokens aligned to an identical hypothesis token in the minimum-edit
  alignment (Barker et al., "The second CHiME speech separation and recognition
  challenge", ICASSP 2013).
* :func:`bootstrap_weights`, :func:`wer_interval`, :func:`paired_bootstrap` —
  utterance bootstrap (Bisani & Ney, "Bootstrap estimates for confidence intervals
  in ASR performance evaluation", ICASSP 2004; the method of Kaldi's
  ``compute-wer-bootci``): resample utterances with replacement, recompute the
  corpus WER; for two systems on the same utterances, the same resamples give the
  difference's interval and the probability of improvement.
* :func:`score_exp` — scan ``EXP_ROOT/*/decode_<frontend>_<testset>/`` (and
  ``EXP_ROOT/seed<N>/*/decode_*`` of other training seeds) and write
  ``results.json`` (+ ``results.meta.json``, ``results.csv``) and
  ``comparisons.json``; :func:`write_report` — ``report.md``, ``report.tex`` and
  ``wer_vs_snr.png``.

Pooled noisy records (``test_set: "noisy_avg"``) average the WER over the
fixed-SNR noisy sets of a split, which hold the same utterances; their intervals
resample *utterance ids jointly* across those sets. (An utterance's errors
correlate across SNRs, so resampling each set on its own would understate the
interval, by half on the default simgrid run.)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
from pathlib import Path

import numpy as np

from pipeline.grid import KEYWORDS, is_grid
from pipeline.stamp import atomic_text

logger = logging.getLogger(__name__)

DECODE_META = "decode.json"  # written by decode: am, frontend, test_set, data_dir
RESULT_KEYS = ("am", "frontend", "test_set", "snr_db", "wer", "n_words", "n_err",
               "keyword_acc", "wer_ci95", "n_utts", "seed")  # fmt: skip
COMPARISON_KEYS = ("am", "frontend", "ref_am", "ref_frontend", "test_set", "seed",
                   "wer", "ref_wer", "delta", "delta_ci95", "p_improvement")  # fmt: skip
N_BOOT = 2000  # bootstrap resamples
BOOT_SEED = 0
SIGNIFICANT = 0.95  # p_improvement >= this (or <= 1 - this): a significant change
POOLED = "noisy_avg"


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
    lines = []
    for utt in sorted(table):
        words = " ".join(table[utt].split())
        lines.append(f"{utt} {words}\n" if words else f"{utt}\n")
    atomic_text(Path(path), "".join(lines))


# ---------------------------------------------------------------------- metrics
def _pairs(refs: dict[str, str], hyps: dict[str, str]):
    if not refs:
        raise ValueError("empty reference set: nothing to score")
    return [(refs[u].split(), hyps.get(u, "").split()) for u in sorted(refs)]


def utt_errors(refs: dict[str, str], hyps: dict[str, str],
               keywords=KEYWORDS) -> dict[str, np.ndarray]:  # fmt: skip
    """Per-utterance word error counts of ``hyps`` against ``refs``, utterances in
    sorted order: ``{utts, n_words, ins, dels, sub, kw_total, kw_correct}`` (arrays
    of length N; ``kw_*``: reference ``keywords`` tokens, and those aligned to an
    identical hypothesis token). One minimum-edit alignment (jiwer) gives both.

    An utterance missing from ``hyps`` counts as an empty hypothesis; an empty
    reference makes every hypothesis word an insertion.
    """
    import jiwer

    pairs = _pairs(refs, hyps)
    n = len(pairs)
    keys = ("n_words", "ins", "dels", "sub", "kw_total", "kw_correct")
    out = {k: np.zeros(n, dtype=np.int64) for k in keys}
    out["utts"] = np.array(sorted(refs))
    for i, (r, h) in enumerate(pairs):
        out["n_words"][i] = len(r)
        out["kw_total"][i] = sum(1 for w in r if w in keywords)
        if not r:
            out["ins"][i] = len(h)
    scored = [i for i, (r, _) in enumerate(pairs) if r]
    if scored:
        o = jiwer.process_words([" ".join(pairs[i][0]) for i in scored],
                                [" ".join(pairs[i][1]) for i in scored])  # fmt: skip
        for i, chunks in zip(scored, o.alignments):
            r = pairs[i][0]
            for c in chunks:
                if c.type == "insert":
                    out["ins"][i] += c.hyp_end_idx - c.hyp_start_idx
                elif c.type == "delete":
                    out["dels"][i] += c.ref_end_idx - c.ref_start_idx
                elif c.type == "substitute":
                    out["sub"][i] += c.ref_end_idx - c.ref_start_idx
                else:  # equal
                    out["kw_correct"][i] += sum(
                        1 for w in r[c.ref_start_idx:c.ref_end_idx] if w in keywords)
    return out


def error_counts(refs: dict[str, str], hyps: dict[str, str]) -> dict:
    """Word errors of ``hyps`` against ``refs`` (both {utt: text}).

    An utterance missing from ``hyps`` counts as an empty hypothesis; hypotheses
    of utterances not in ``refs`` are ignored.

    Returns:
        ``{wer (percent), n_err, n_words, ins, del, sub, n_utts}``.

    Raises:
        ValueError: ``refs`` is empty or holds no words (WER is undefined).
    """
    u = utt_errors(refs, hyps)
    n_words = int(u["n_words"].sum())
    if n_words == 0:
        raise ValueError("reference set has no words: WER is undefined")
    ins, dels, subs = (int(u[k].sum()) for k in ("ins", "dels", "sub"))
    n_err = ins + dels + subs
    return dict(wer=100.0 * n_err / n_words, n_err=n_err, n_words=n_words, ins=ins,
                dels=dels, sub=subs, n_utts=len(u["utts"]))  # fmt: skip


# -------------------------------------------------------------------- bootstrap
_weights_cache: dict[tuple[int, int, int], np.ndarray] = {}


def bootstrap_weights(n_utts: int, n_boot: int = N_BOOT, seed: int = BOOT_SEED
                      ) -> np.ndarray:  # fmt: skip
    """``(n_boot, n_utts)`` resample counts: row b says how often each utterance
    is drawn in resample b (n_utts draws with replacement). Fixed by ``seed`` and
    the set size, so every system scored on the same (sorted) utterances sees the
    same resamples: that pairing is what makes the paired bootstrap paired."""
    key = (int(n_utts), int(n_boot), int(seed))
    if key not in _weights_cache:
        rng = np.random.default_rng([seed, n_utts])
        idx = rng.integers(0, n_utts, size=(n_boot, n_utts))
        w = np.zeros((n_boot, n_utts), dtype=np.float64)
        np.add.at(w, (np.arange(n_boot)[:, None], idx), 1.0)
        _weights_cache.clear()
        _weights_cache[key] = w
    return _weights_cache[key]


def _boot_wer(err: np.ndarray, words: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Corpus WER (percent) of every resample. ``err``/``words``: ``(N,)`` for one
    set or ``(S, N)`` for S sets of the same utterances (then the mean over the
    S per-set WERs, each set resampled with the same utterance draws)."""
    err, words = np.atleast_2d(err).astype(float), np.atleast_2d(words).astype(float)
    wer = 100.0 * (w @ err.T) / np.maximum(w @ words.T, 1.0)  # (B, S)
    return wer.mean(axis=1)


def _point_wer(err, words) -> float:
    err, words = np.atleast_2d(err), np.atleast_2d(words)
    return float(np.mean(100.0 * err.sum(1) / np.maximum(words.sum(1), 1)))


def wer_interval(err, words, n_boot: int = N_BOOT, seed: int = BOOT_SEED,
                 level: float = 0.95) -> tuple[float, float]:  # fmt: skip
    """Percentile bootstrap interval (percent) of the corpus WER.

    Args:
        err, words: per-utterance errors and reference words, ``(N,)``, or
            ``(S, N)`` for the mean WER over S sets of the same N utterances
            (resampled jointly: one utterance draw for all S sets).
    """
    b = _boot_wer(err, words, bootstrap_weights(np.shape(err)[-1], n_boot, seed))
    a = 100 * (1 - level) / 2
    return float(np.percentile(b, a)), float(np.percentile(b, 100 - a))


def paired_bootstrap(err, words, ref_err, ref_words, n_boot: int = N_BOOT,
                     seed: int = BOOT_SEED, level: float = 0.95) -> dict:  # fmt: skip
    """Paired bootstrap of a system against a reference on the same utterances
    (same order; ``(N,)`` or ``(S, N)`` as in :func:`wer_interval`).

    Returns ``{wer, ref_wer, delta, delta_ci95: [low, high], p_improvement}``:
    percent and percent points, ``delta = wer - ref_wer`` (negative = better);
    ``p_improvement`` is the share of resamples in which the system's WER is
    below the reference's (ties count half, so identical systems give 0.5).
    """
    if np.shape(err) != np.shape(ref_err):
        raise ValueError("paired bootstrap needs both systems on the same utterances")
    w = bootstrap_weights(np.shape(err)[-1], n_boot, seed)
    d = _boot_wer(err, words, w) - _boot_wer(ref_err, ref_words, w)
    a = 100 * (1 - level) / 2
    wer, ref = _point_wer(err, words), _point_wer(ref_err, ref_words)
    return dict(wer=wer, ref_wer=ref, delta=wer - ref,
                delta_ci95=[float(np.percentile(d, a)), float(np.percentile(d, 100 - a))],
                p_improvement=float(np.mean(d < 0) + 0.5 * np.mean(d == 0)))  # fmt: skip


def keyword_accuracy(refs: dict[str, str], hyps: dict[str, str],
                     keywords=KEYWORDS) -> float:  # fmt: skip
    """Share (percent) of reference keyword tokens (GRID: letters and digits,
    positions 4 and 5) aligned to an identical hypothesis token in the
    minimum-edit (jiwer / Levenshtein) alignment.

    Raises:
        ValueError: the reference set is empty or holds no keyword token.
    """
    return _kw_acc(utt_errors(refs, hyps, keywords))


def _kw_acc(u: dict) -> float:
    total = int(u["kw_total"].sum())
    if total == 0:
        raise ValueError("no keyword tokens in the reference set")
    return 100.0 * int(u["kw_correct"].sum()) / total


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
    atomic_text(out_dir / "wer", wer_line(counts) + "\n")
    return counts


# ------------------------------------------------------------------ results.json
# Decode dirs without decode.json (not written by `pipeline decode`): the test set
# starts at the first split word after `decode_`, so front-end names may hold `_`.
_DECODE_RE = re.compile(
    r"^decode_(?P<frontend>.+?)_(?P<test_set>(?:test|dev|devel|eval|train)(?:_.*)?)$")
_SEED_DIR = re.compile(r"^seed(?P<seed>\d+)$")


def _am_roots(exp_root: Path):
    """(seed or None, dir holding AM dirs): ``EXP_ROOT`` and ``EXP_ROOT/seed<N>``."""
    yield None, exp_root
    for p in sorted(exp_root.iterdir()):
        m = _SEED_DIR.match(p.name)
        if p.is_dir() and m:
            yield int(m.group("seed")), p


def _decode_dirs(exp_root: Path):
    """(am, seed, decode dir) of every finished decode under ``exp_root``."""
    for seed, root in _am_roots(exp_root):
        for am_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            if _SEED_DIR.match(am_dir.name):
                continue
            if seed is None:  # EXP_ROOT/<am>: the seed the AM was trained with
                meta = am_dir / "am.json"
                am_seed = json.loads(meta.read_text()).get("seed") if meta.is_file() else 0
            else:
                am_seed = seed
            for d in sorted(am_dir.glob("decode_*_*")):
                if d.is_dir() and (d / "hyp").is_file() and (d / "ref").is_file():
                    yield am_dir.name, int(am_seed or 0), d


def _uniform_snr(path: Path) -> float | None:
    if not path.is_file():
        return None
    vals = {float(v) for v in read_text(path).values() if v}
    return vals.pop() if len(vals) == 1 else None


def read_decode_meta(d: str | Path) -> dict | None:
    """A decode dir's ``decode.json`` (written last by ``decode`` and
    ``combine-decodes``: the dir is finished), or None when it is missing or
    unreadable."""
    try:
        return json.loads((Path(d) / DECODE_META).read_text())
    except (OSError, ValueError):
        return None


def frontend_of_decode_dir(out_dir: Path, test_set: str) -> str | None:
    """The front-end name in ``decode_<frontend>_<test_set>`` when the dir is named
    that way (front-end names may hold ``_`` or ``+``: ``decode_gan_recon_test_clean``,
    ``decode_dnn+lstm_test_clean``)."""
    name, tail = Path(out_dir).name, f"_{test_set}"
    if name.startswith("decode_") and name.endswith(tail) and len(name) > 7 + len(tail):
        return name[len("decode_"): -len(tail)]
    return None


def _decode_names(d: Path) -> tuple[str, str]:
    meta = read_decode_meta(d) or {}
    if meta.get("frontend") and meta.get("test_set"):
        return meta["frontend"], meta["test_set"]
    m = _DECODE_RE.match(d.name) or re.match(r"^decode_(?P<frontend>[^_]+)_(?P<test_set>.+)$", d.name)  # noqa: E501
    return (m.group("frontend"), m.group("test_set")) if m else ("none", d.name)


def _score_dir(am: str, d: Path, seed: int = 0) -> tuple[dict, dict]:
    """(results.json record, per-utterance arrays) of decode dir ``d``."""
    frontend, test_set = _decode_names(d)
    refs, hyps = read_text(d / "ref"), read_text(d / "hyp")
    u = utt_errors(refs, hyps)
    u["err"] = u["ins"] + u["dels"] + u["sub"]
    n_words, n_err = int(u["n_words"].sum()), int(u["err"].sum())
    if n_words == 0:
        raise ValueError(f"{d / 'ref'}: reference set has no words: WER is undefined")
    kw = None
    if all(is_grid(r.split()) for r in refs.values()) and u["kw_total"].sum():
        kw = round(_kw_acc(u), 2)
    lo, hi = wer_interval(u["err"], u["n_words"])
    rec = dict(am=am, frontend=frontend, test_set=test_set,
               snr_db=_uniform_snr(d / "utt2snr"), wer=round(100.0 * n_err / n_words, 2),
               n_words=n_words, n_err=n_err, keyword_acc=kw,
               wer_ci95=[round(lo, 2), round(hi, 2)], n_utts=len(u["utts"]),
               seed=int(seed))  # fmt: skip
    return rec, u


def score_decode_dir(am: str, d: Path, seed: int = 0) -> dict:
    """One results.json record for decode dir ``d`` of acoustic model ``am``."""
    return _score_dir(am, d, seed)[0]


_COND_RE = re.compile(r"^(?:(?P<split>.+?)_)?(?P<cond>(?:clean|reverb|noisy)(?:_.+)?)$")


def _split_cond(test_set: str) -> tuple[str, str]:
    """``test_noisy_0dB`` -> (``test``, ``noisy_0dB``); the split is everything
    before the condition (``test_eval92_5k_noisy_0dB`` -> (``test_eval92_5k``,
    ``noisy_0dB``), CHiME-2's names)."""
    m = _COND_RE.match(test_set)
    if m:
        return m.group("split") or "", m.group("cond")
    return tuple(test_set.split("_", 1)) if "_" in test_set else ("", test_set)


def pooled_name(split: str) -> str:
    """Pooled noisy test set name: ``noisy_avg`` for ``test``, else
    ``<split>_noisy_avg``."""
    return POOLED if split in ("test", "") else f"{split}_{POOLED}"


def _pool_groups(records: list[dict]) -> dict[tuple, list[int]]:
    """(am, frontend, seed, split) -> indices of its fixed-SNR noisy records."""
    groups: dict[tuple, list[int]] = {}
    for i, r in enumerate(records):
        split, cond = _split_cond(r["test_set"])
        if r["snr_db"] is not None and cond.startswith("noisy_") and r.get("pooled") is None:
            groups.setdefault((r["am"], r["frontend"], r["seed"], split), []).append(i)
    return {k: v for k, v in groups.items() if len(v) > 1}


def _pairing(ids: list[np.ndarray]) -> list[np.ndarray] | None:
    """Per set, the order that lines its utterances up with the other sets', or
    None if the sets do not hold the same utterances. Ids match as they are
    (simgrid, CHiME-2 Track 1) or after dropping a suffix that is constant within
    each set (CHiME-2 Track 2: the WSJ id plus a condition digit, 440c02015)."""
    for k in range(3):
        keys = []
        for u in ids:
            if k and len({x[-k:] for x in u}) != 1:
                break
            keys.append(np.array([x[:len(x) - k] for x in u]))
        else:
            ref = np.sort(keys[0])
            if len(np.unique(ref)) == len(ref) and all(
                    len(x) == len(ref) and np.all(np.sort(x) == ref) for x in keys):
                return [np.argsort(x, kind="stable") for x in keys]
    return None


def _stack(idx: list[int], utts: list[dict]) -> tuple[np.ndarray, np.ndarray] | None:
    """(S, N) error and word arrays of records ``idx`` with utterances aligned
    across sets (see :func:`_pairing`), or None if the sets do not hold the same
    utterances."""
    order = _pairing([np.asarray(utts[i]["utts"]) for i in idx])
    if order is None:
        return None
    return (np.stack([utts[i]["err"][o] for i, o in zip(idx, order)]),
            np.stack([utts[i]["n_words"][o] for i, o in zip(idx, order)]))


def pooled_records(records: list[dict], utts: list[dict]) -> tuple[list[dict], list]:
    """A ``noisy_avg`` record per (AM, front-end, seed, split) with two or more
    fixed-SNR noisy sets of the same utterances: WER = mean of their WERs, the
    interval from the joint (utterance-id) bootstrap. Returns (records, arrays)."""
    out, arrays = [], []
    for (am, fe, seed, split), idx in sorted(_pool_groups(records).items(),
                                             key=lambda kv: str(kv[0])):
        st = _stack(idx, utts)
        if st is None:
            logger.warning("%s/%s: fixed-SNR sets hold different utterances; "
                           "no pooled record", am, fe)  # fmt: skip
            continue
        err, words = st
        lo, hi = wer_interval(err, words)
        names = [records[i]["test_set"] for i in sorted(idx, key=lambda i: records[i]["snr_db"])]
        out.append(dict(am=am, frontend=fe, test_set=pooled_name(split), snr_db=None,
                        wer=round(_point_wer(err, words), 2),
                        n_words=int(words.sum()), n_err=int(err.sum()),
                        keyword_acc=None, wer_ci95=[round(lo, 2), round(hi, 2)],
                        n_utts=int(err.shape[1]), seed=seed, pooled=names))  # fmt: skip
        arrays.append((err, words))
    return out, arrays


def _comparison_pairs(keys: set[tuple[str, str]]) -> list[tuple[tuple, tuple]]:
    """((am, fe), (ref_am, ref_fe)) pairs to compare, from the (am, fe) present:
    every front-end vs ``none`` on the same AM; every ``mct_<fe>``/``<fe>`` vs
    ``mct``/``none``; every ``X`` vs its ablation twin ``X_recon`` (on ``mct`` and
    on their own ``mct_<fe>`` AMs); a system combination ``mct_<a>+<b>``/``<a>+<b>``
    (``combine-decodes``) vs each of its members ``mct_<a>``/``<a>``."""
    pairs = []
    for am, fe in sorted(keys):
        if "+" in fe and am == f"mct_{fe}":
            pairs += [((am, fe), (f"mct_{m}", m)) for m in fe.split("+")
                      if (f"mct_{m}", m) in keys]  # fmt: skip
        if fe != "none" and (am, "none") in keys:
            pairs.append(((am, fe), (am, "none")))
        if am == f"mct_{fe}" and ("mct", "none") in keys:
            pairs.append(((am, fe), ("mct", "none")))
        twin = f"{fe}_recon"
        if (am, twin) in keys:
            pairs.append(((am, fe), (am, twin)))
        if am == f"mct_{fe}" and (f"mct_{twin}", twin) in keys:
            pairs.append(((am, fe), (f"mct_{twin}", twin)))
    return pairs


def compare_records(records: list[dict], arrays: list) -> list[dict]:
    """Paired comparisons (see :func:`_comparison_pairs`) on every test set and
    pooled set that both systems were scored on, per seed."""
    index = {(r["am"], r["frontend"], r["test_set"], r["seed"]): i
             for i, r in enumerate(records)}  # fmt: skip
    out = []
    for seed in sorted({r["seed"] for r in records}):
        keys = {(r["am"], r["frontend"]) for r in records if r["seed"] == seed}
        for (am, fe), (ram, rfe) in _comparison_pairs(keys):
            sets = [r["test_set"] for r in records
                    if (r["am"], r["frontend"], r["seed"]) == (am, fe, seed)]  # fmt: skip
            for ts in sets:
                j = index.get((ram, rfe, ts, seed))
                if j is None:
                    continue
                i = index[(am, fe, ts, seed)]
                (e, w), (re_, rw) = arrays[i], arrays[j]
                if np.shape(e) != np.shape(re_):
                    continue
                c = paired_bootstrap(e, w, re_, rw)
                out.append(dict(am=am, frontend=fe, ref_am=ram, ref_frontend=rfe,
                                test_set=ts, seed=seed, wer=round(c["wer"], 2),
                                ref_wer=round(c["ref_wer"], 2),
                                delta=round(c["delta"], 2),
                                delta_ci95=[round(x, 2) for x in c["delta_ci95"]],
                                p_improvement=round(c["p_improvement"], 4)))  # fmt: skip
    return out


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
                info["feat_dim"] = am_json.get("feat_dim")
                info["feats_type"] = am_json.get("feats_type")
                if am_json.get("init"):  # train-am --init: the AM it started from
                    info["init"] = Path(am_json["init"]).name
                    info["epochs"] = am_json.get("epochs")
            ams[am_dir.name] = info
            continue
        for d in sorted(am_dir.glob("decode_*/decode.json")):  # combine-decodes
            members = json.loads(d.read_text()).get("member_systems")
            if members:
                ams[am_dir.name] = {"combination_of": [m[0] for m in members]}
                break
    return {"packages": versions, "acoustic_models": ams}


def _csv(records: list[dict]) -> str:
    """results.csv: one row per record, the results.json fields (intervals as
    ``wer_ci95_low``/``wer_ci95_high``; a pooled record lists its sets)."""
    buf = io.StringIO()
    cols = [k for k in RESULT_KEYS if k != "wer_ci95"] + ["wer_ci95_low", "wer_ci95_high",
                                                          "pooled"]  # fmt: skip
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in records:
        row = {k: r.get(k) for k in cols if k in r}
        row["wer_ci95_low"], row["wer_ci95_high"] = r["wer_ci95"]
        row["pooled"] = " ".join(r.get("pooled") or [])
        w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def score_exp(exp_root: str | Path, ams=None, frontends=None) -> list[dict]:
    """Score every ``EXP_ROOT/[seed<N>/]<am>/decode_<frontend>_<testset>/`` (only
    those of the AMs in ``ams`` and the front-ends in ``frontends`` plus ``none``,
    when given: a recipe scores the models of its own run, not what earlier runs
    with other choices left behind) and
    write ``EXP_ROOT/results.json`` (a list of records with :data:`RESULT_KEYS`,
    plus one pooled ``noisy_avg`` record per AM, front-end and seed holding a
    ``pooled`` list of its sets), ``results.csv`` (the same rows),
    ``comparisons.json`` (paired comparisons, :data:`COMPARISON_KEYS`) and
    ``results.meta.json`` (seed, config hash, package versions)."""
    exp_root = Path(exp_root)
    if not exp_root.is_dir():
        raise FileNotFoundError(f"expected an exp dir at {exp_root}, not found")
    records, utts = [], []
    for am, seed, d in _decode_dirs(exp_root):
        if ams is not None and am not in ams:
            continue
        r, u = _score_dir(am, d, seed)
        if frontends is not None and r["frontend"] not in ("none", *frontends):
            continue
        records.append(r)
        utts.append(u)
    if not records:
        raise FileNotFoundError(
            f"no decode dirs with hyp and ref under {exp_root}/*/decode_*_*/")
    arrays = [(u["err"], u["n_words"]) for u in utts]
    pooled, parr = pooled_records(records, utts)
    records += pooled
    arrays += parr
    comparisons = compare_records(records, arrays)
    for name, obj in (("results.json", records), ("comparisons.json", comparisons),
                      ("results.meta.json", _meta(exp_root))):
        atomic_text(exp_root / name, json.dumps(obj, indent=1) + "\n")
    atomic_text(exp_root / "results.csv", _csv(records))
    return records


# ----------------------------------------------------------------------- report
def _condition(test_set: str) -> str:
    """``test_noisy_0dB`` -> ``noisy_0dB`` (the split prefix dropped)."""
    return _split_cond(test_set)[1] if test_set != POOLED else POOLED


def _columns(recs: list[dict]) -> list[tuple[str, str]]:
    """(column key, header) in order: clean, reverb, noisy, SNRs low to high."""
    conds = {}
    for r in recs:
        if not r.get("pooled"):
            conds.setdefault(_condition(r["test_set"]), r["snr_db"])

    def order(c):
        snr = conds[c]
        fixed = {"clean": 0, "reverb": 1, "noisy": 2}
        if c in fixed:
            return (fixed[c], 0.0, c)
        return (3, snr if snr is not None else 1e9, c)

    cols = sorted(conds, key=order)
    return [(c, f"{conds[c]:g} dB" if conds[c] is not None and c not in ("clean", "reverb", "noisy") else c) for c in cols]  # noqa: E501


def _hw(r: dict | None) -> float | None:
    """Half-width of a record's 95% interval."""
    if r is None or not r.get("wer_ci95"):
        return None
    lo, hi = r["wer_ci95"]
    return (hi - lo) / 2


def _fmt(r: dict | None, best=False, key="wer", tex=False):
    if r is None or r.get(key) is None:
        return "--" if tex else "–"
    s = f"{r[key]:.2f}"
    if key == "wer" and _hw(r) is not None:
        s += (f" $\\pm$ {_hw(r):.2f}" if tex else f" ±{_hw(r):.2f}")
    if best:
        return f"\\textbf{{{s}}}" if tex else f"**{s}**"
    return s


def _am_order(am: str) -> tuple:
    """clean, mct, the mct_<fe> AMs, then system combinations (mct_<a>+<b>)."""
    return ({"clean": 0, "mct": 1}.get(am, 3 if "+" in am else 2), am)


def _fe_order(fe: str) -> tuple:
    return (fe != "none", fe)


def _significant(p: float) -> bool:
    return p >= SIGNIFICANT or p <= 1 - SIGNIFICANT


def _load_json(path: Path, what: str):
    if not path.is_file():
        raise FileNotFoundError(f"expected {path} (run `pipeline score` first)")
    return json.loads(path.read_text())


def _tables(records: list[dict], comparisons: list[dict]) -> list[dict]:
    """The report's main tables (one seed): dicts with ``title``, ``heads``,
    ``rows`` of ``(label, [cell records], [best flags], rel)``."""
    seed = min(r["seed"] for r in records)
    records = [r for r in records if r["seed"] == seed]
    comp = {(c["am"], c["frontend"], c["ref_am"], c["ref_frontend"], c["test_set"]): c
            for c in comparisons if c["seed"] == seed}  # fmt: skip
    tables = []
    base_recs = [r for r in records if r["frontend"] == "none"]
    if len({r["am"] for r in base_recs}) > 1:  # AMs side by side, no front-end
        cols = _columns(base_recs)
        keys = [c for c, _ in cols] + ([POOLED] if any(
            _condition(r["test_set"]) == POOLED for r in base_recs) else [])  # fmt: skip
        rows = []
        for am in sorted({r["am"] for r in base_recs}, key=_am_order):
            row = {_condition(r["test_set"]): r for r in base_recs if r["am"] == am}
            rows.append((am, [row.get(k) for k in keys], [False] * len(keys), None))
        tables.append(dict(title="Acoustic models compared (front-end `none`)",
                           heads=[h for _, h in cols] + (["avg SNR"] if POOLED in keys else []),
                           label="AM", rows=rows))  # fmt: skip
    by_am: dict[str, list[dict]] = {}
    for r in records:
        by_am.setdefault(r["am"], []).append(r)
    for am in sorted(by_am, key=_am_order):
        recs = by_am[am]
        cols = _columns(recs)
        keys = [c for c, _ in cols] + [POOLED]
        fes = sorted({r["frontend"] for r in recs}, key=_fe_order)
        table = {fe: {_condition(r["test_set"]): r for r in recs if r["frontend"] == fe}
                 for fe in fes}  # fmt: skip
        best = {k: min((table[fe][k]["wer"] for fe in fes if k in table[fe]),
                       default=None) for k in keys}  # fmt: skip
        ref = (am, "none") if "none" in fes else (
            ("mct", "none") if am.startswith("mct_") else None)
        rows = []
        for fe in fes:
            row = table[fe]
            flags = [len(fes) > 1 and k in row and row[k]["wer"] == best[k] for k in keys]
            rel = None
            c = comp.get((am, fe, *ref, POOLED)) if ref and (am, fe) != ref else None
            if c is not None and c["ref_wer"]:
                rel = (100.0 * c["delta"] / c["ref_wer"], _significant(c["p_improvement"]))
            rows.append((fe, [row.get(k) for k in keys], flags, rel))
        kw_rows = [(fe, [table[fe].get(c) for c, _ in cols]) for fe in fes
                   if any(r["keyword_acc"] is not None for r in table[fe].values())]
        tables.append(dict(title=f"AM `{am}`", heads=[h for _, h in cols] + ["avg SNR"],
                           label="front-end", rows=rows, kw=kw_rows,
                           kw_heads=[h for _, h in cols],
                           ref=f"{ref[0]}/{ref[1]}" if ref else None))  # fmt: skip
    return tables


def _rel(rel, tex=False) -> str:
    if rel is None:
        return "--" if tex else "–"
    v, sig = rel
    s = f"{v:+.1f}\\%" if tex else f"{v:+.1f}%"
    return s + ("$^{*}$" if tex else " *") * sig


def _comparison_lines(cs: list[dict]) -> list[str]:
    lines = ["| system (AM / front-end) | reference | test set | WER | ref WER | "
             "Δ (points) | Δ 95% CI | p(improvement) | significant |",
             "|---|---|---|---:|---:|---:|---|---:|---|"]  # fmt: skip
    for c in cs:
        lo, hi = c["delta_ci95"]
        sig = ("better" if c["p_improvement"] >= SIGNIFICANT else "worse"
               if c["p_improvement"] <= 1 - SIGNIFICANT else "no")  # fmt: skip
        lines.append(f"| {c['am']} / {c['frontend']} | {c['ref_am']} / "
                     f"{c['ref_frontend']} | {c['test_set']} | {c['wer']:.2f} | "
                     f"{c['ref_wer']:.2f} | {c['delta']:+.2f} | [{lo:+.2f}, {hi:+.2f}] "
                     f"| {c['p_improvement']:.3f} | {sig} |")  # fmt: skip
    return lines


def _snr_key(test_set: str, records: list[dict]) -> float:
    if _condition(test_set) == POOLED or test_set.endswith(POOLED):
        return 1e9
    return next((r["snr_db"] for r in records if r["test_set"] == test_set
                 and r["snr_db"] is not None), -1e9)  # fmt: skip


def _seed_lines(records: list[dict]) -> list[str]:
    """Mean and standard deviation over training seeds of each (AM, front-end)'s
    pooled noisy WER, beside the mean bootstrap half-width (test sampling)."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r["test_set"] == POOLED:
            groups.setdefault((r["am"], r["frontend"]), []).append(r)
    multi = {k: v for k, v in groups.items() if len({r["seed"] for r in v}) > 1}
    if not multi:
        return []
    lines = ["## Seeds", "",
             "Pooled noisy WER (`noisy_avg`) over training seeds: mean ± standard "
             "deviation across seeds (training variability), and the mean half-width "
             "of the per-seed 95% bootstrap interval (test-sampling variability).", "",
             "| AM | front-end | seeds | WER per seed | mean ± sd | CI half-width |",
             "|---|---|---|---|---:|---:|"]  # fmt: skip
    for (am, fe), rs in sorted(multi.items(), key=lambda kv: (_am_order(kv[0][0]),
                                                             _fe_order(kv[0][1]))):
        rs = sorted(rs, key=lambda r: r["seed"])
        w = np.array([r["wer"] for r in rs])
        hw = np.mean([_hw(r) for r in rs])
        lines.append(f"| {am} | {fe} | {' '.join(str(r['seed']) for r in rs)} | "
                     f"{', '.join(f'{x:.2f}' for x in w)} | {w.mean():.2f} ± "
                     f"{w.std(ddof=1):.2f} | {hw:.2f} |")  # fmt: skip
    return lines + [""]


# SpeechBrain's FileTrainLogger writes small values in scientific notation (7.60e-01)
_EPOCH_RE = re.compile(r"epoch: (\d+).*valid WER: ([-+\d.eE]+)")


def training_curves(exp_root: Path) -> list[str]:
    """Report lines: dev WER per epoch of every AM (``<am>/train_log.txt``) and dev
    loss per epoch of every front-end (``enhance/<fe>/metrics.json``), so a model
    still improving at its last epoch is visible."""
    ams = {}
    for p in sorted(exp_root.glob("*/train_log.txt")):
        curve = [(int(m.group(1)), float(m.group(2))) for m in
                 map(_EPOCH_RE.search, p.read_text().splitlines()) if m]  # fmt: skip
        if curve:
            ams[p.parent.name] = dict(curve)  # a resumed epoch keeps its last line
    fes = {}
    for p in sorted(exp_root.glob("enhance/*/metrics.json")):
        h = json.loads(p.read_text()).get("history") or []
        if h:
            fes[p.parent.name] = {r["epoch"]: r["dev_loss"] for r in h}
    lines = ["## Training curves", ""] if ams or fes else []
    lines += _curve_table(
        "Dev WER (%, greedy decode of the AM's dev set) after each epoch; bold: the "
        "epoch kept.", "AM", {k: ams[k] for k in sorted(ams, key=_am_order)}, "{:.2f}")
    lines += _curve_table(
        "Front-end dev loss (MSE in the normalised target domain) after each epoch; "
        "bold: the epoch kept.", "front-end", {k: fes[k] for k in sorted(fes)}, "{:.4f}")
    return lines


def _curve_table(caption: str, label: str, curves: dict[str, dict], fmt: str) -> list[str]:
    """Markdown table of per-epoch values (``{name: {epoch: value}}``), the lowest
    (earliest on ties) of each row in bold; ``[]`` without curves."""
    if not curves:
        return []
    n = max(max(c) for c in curves.values())
    lines = [caption, "", f"| {label} | " + " | ".join(str(e) for e in range(1, n + 1)) + " |",
             "|---|" + "---:|" * n]  # fmt: skip
    for name, c in curves.items():
        best = min(c, key=lambda e: (c[e], e))
        cells = ["–" if e not in c else f"**{fmt.format(c[e])}**" if e == best
                 else fmt.format(c[e]) for e in range(1, n + 1)]  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def _input_lines(exp_root: Path) -> list[str]:
    """One line naming what each AM saw (``results.meta.json``, from am.json):
    e.g. ``mct_<fe>`` on enhanced features pasted beside the unprocessed ones, and
    which AMs were fine-tuned from which (train-am --init)."""
    path = exp_root / "results.meta.json"
    if not path.is_file():
        return []
    groups: dict[tuple, list[str]] = {}
    meta = json.loads(path.read_text()).get("acoustic_models", {})
    for am, info in meta.items():
        if info.get("feats_type"):
            groups.setdefault((info["feats_type"], info.get("feat_dim")), []).append(am)
    if not groups:
        return []
    parts = []
    for (kind, dim), ams in sorted(groups.items(), key=lambda kv: min(map(_am_order, kv[1]))):
        what = f"{kind}, {dim}-d" if dim else kind
        if "+" in kind:
            what += " (the front-end's output pasted beside the unprocessed features)"
        parts.append(", ".join(f"`{a}`" for a in sorted(ams, key=_am_order)) + f": {what}")
    starts: dict[tuple, list[str]] = {}
    for am, info in meta.items():
        if info.get("init"):
            starts.setdefault((info["init"], info.get("epochs")), []).append(am)
    for (base, epochs), ams in sorted(starts.items()):
        more = f" for {epochs} epochs" if epochs else ""
        parts.append(", ".join(f"`{a}`" for a in sorted(ams, key=_am_order))
                     + f" fine-tuned from `{base}`{more}")  # fmt: skip
    for am, info in sorted(meta.items()):
        if info.get("combination_of"):
            parts.append(f"`{am}`: the system combination of "
                         + ", ".join(f"`{a}`" for a in info["combination_of"])
                         + " (their GRID slot posteriors averaged: combine-decodes)")
    return ["AM inputs: " + "; ".join(parts) + ".", ""]


def write_report(exp_root: str | Path, records: list[dict] | None = None,
                 comparisons: list[dict] | None = None,
                 smoke_test: bool = False) -> Path:  # fmt: skip
    """Write ``EXP_ROOT/report.md`` (one WER table per acoustic model: rows
    front-ends, columns test conditions + the pooled average over SNRs, each WER
    with its 95% interval half-width, best per column in bold, relative change vs
    front-end ``none`` with its significance; the paired comparisons; the
    adversary ablation; seeds), ``report.tex`` (the main tables, LaTeX booktabs)
    and ``wer_vs_snr.png`` (with 95% error bars). Reads ``results.json`` and
    ``comparisons.json`` unless given. ``smoke_test``: the first line says that
    the run was a smoke test (tiny corpus and models)."""
    exp_root = Path(exp_root)
    if records is None:
        records = _load_json(exp_root / "results.json", "results")
    if comparisons is None:
        path = exp_root / "comparisons.json"
        comparisons = json.loads(path.read_text()) if path.is_file() else []
    for r in records:  # results.json of an older version: no interval, no seed
        r.setdefault("seed", 0)
        r.setdefault("wer_ci95", None)
    seed = min(r["seed"] for r in records)
    title = "# WER report"
    if smoke_test:
        title += (" (smoke test: quick run on a small corpus with tiny models; these "
                  "numbers check the plumbing, they say nothing about the methods)")
    lines = [title, "",
             f"WER in percent, from `{exp_root.name}/results.json`"
             + (f" (training seed {seed})" if len({r['seed'] for r in records}) > 1 else "")
             + ". ± is the half-width of the 95% utterance-bootstrap interval "
             f"({N_BOOT} resamples; Bisani & Ney 2004). 'avg SNR' is the mean WER "
             "over the fixed-SNR noisy test sets, its interval from resampling "
             "utterances jointly across them. Bold: best front-end per column. "
             "'rel. vs none': relative change of 'avg SNR' WER against the same AM "
             "without a front-end, or for an AM trained on enhanced features "
             "(`mct_<fe>`) against `mct` without one (negative = better); * marks a "
             f"significant change (paired bootstrap: p(improvement) ≥ {SIGNIFICANT} "
             f"or ≤ {1 - SIGNIFICANT:.2f}).", ""]  # fmt: skip
    lines += _input_lines(exp_root)
    for t in _tables(records, comparisons):
        rel_col = t["label"] == "front-end"
        lines += [f"## {t['title']}", "",
                  f"| {t['label']} | " + " | ".join(t["heads"])
                  + (" | rel. vs none |" if rel_col else " |"),
                  "|---|" + "---:|" * (len(t["heads"]) + rel_col)]  # fmt: skip
        for label, cells, flags, rel in t["rows"]:
            body = " | ".join(_fmt(c, b) for c, b in zip(cells, flags))
            lines.append(f"| {label} | {body}" + (f" | {_rel(rel)} |" if rel_col else " |"))
        if t.get("kw"):
            lines += ["", "Keyword (letter + digit) accuracy, percent:", "",
                      "| front-end | " + " | ".join(t["kw_heads"]) + " |",
                      "|---|" + "---:|" * len(t["kw_heads"])]  # fmt: skip
            for fe, cells in t["kw"]:
                lines.append(f"| {fe} | " + " | ".join(
                    _fmt(c, key="keyword_acc") for c in cells) + " |")
        lines.append("")
    main = [c for c in comparisons if c["seed"] == seed]
    sig = [c for c in main if _condition(c["test_set"]) in (POOLED, "clean", "reverb")
           and c["ref_frontend"] != f"{c['frontend']}_recon"]  # (twins: the ablation)
    if sig:
        sig.sort(key=lambda c: (_condition(c["test_set"]) != POOLED, _am_order(c["am"]),
                                _fe_order(c["frontend"]), c["ref_am"]))  # fmt: skip
        lines += ["## Significance", "",
                  "Paired bootstrap over utterances (the same resamples for both "
                  "systems): Δ = WER − reference WER in points (negative = better), "
                  "its 95% interval, and the share of resamples in which the system "
                  "beats the reference. Pooled noisy average, clean and reverb test "
                  "sets; every test set is in `comparisons.json`.", ""]  # fmt: skip
        lines += _comparison_lines(sig) + [""]
    abl = [c for c in main if c["ref_frontend"] == f"{c['frontend']}_recon"]
    if abl:
        abl.sort(key=lambda c: (c["am"] != "mct", c["am"], c["frontend"],
                                _snr_key(c["test_set"], records)))  # fmt: skip
        abl = [c for c in abl if _condition(c["test_set"]) not in ("noisy",)]
        lines += ["## Adversary ablation", "",
                  "Each front-end `X` against its twin `X_recon` (the same generator, "
                  "seed, data and epochs, trained without the adversary): as a "
                  "front-end to the `mct` AM, and on their own `mct_<fe>` AMs. "
                  "Negative Δ: the adversary helps.", ""]  # fmt: skip
        lines += _comparison_lines(abl) + [""]
    lines += _seed_lines(records)
    lines += training_curves(exp_root)
    lines += ["![WER vs SNR](wer_vs_snr.png)", ""]
    out = exp_root / "report.md"
    atomic_text(out, "\n".join(lines))
    atomic_text(exp_root / "report.tex", report_tex(records, comparisons))
    plot_wer_vs_snr([r for r in records if r["seed"] == seed], exp_root / "wer_vs_snr.png")
    return out


def _tex_escape(s: str) -> str:
    return s.replace("_", "\\_").replace("`", "").replace("%", "\\%")


def report_tex(records: list[dict], comparisons: list[dict]) -> str:
    """The report's main tables as LaTeX ``booktabs`` tables (needs
    ``\\usepackage{booktabs}``), WER ± 95% half-width, best per column in bold."""
    out = ["% WER tables generated by `python -m pipeline report`; needs "
           "\\usepackage{booktabs}", ""]
    for t in _tables(records, comparisons):
        rel_col = t["label"] == "front-end"
        n = len(t["heads"]) + rel_col
        out += ["\\begin{table}[t]", "\\centering", "\\small",
                f"\\caption{{WER (\\%), 95\\% bootstrap half-width: "
                f"{_tex_escape(t['title'])}}}",
                f"\\begin{{tabular}}{{l{'r' * n}}}", "\\toprule",
                " & ".join([_tex_escape(t["label"])] + [_tex_escape(h) for h in t["heads"]]
                           + (["rel."] if rel_col else [])) + " \\\\",
                "\\midrule"]  # fmt: skip
        for label, cells, flags, rel in t["rows"]:
            row = [_tex_escape(label)] + [_fmt(c, b, tex=True) for c, b in zip(cells, flags)]
            if rel_col:
                row.append(_rel(rel, tex=True))
            out.append(" & ".join(row) + " \\\\")
        out += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(out)


def plot_wer_vs_snr(records: list[dict], path: str | Path) -> Path:
    """WER (%) against SNR (dB) with 95% bootstrap error bars, one line per
    (AM, front-end), nudged apart horizontally: colour = front-end,
    line style = AM (dashed ``clean``, solid ``mct``, thick ``mct_<fe>``), so a
    front-end's lines read together; the legend sits outside the axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5.2))
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["am"], r["frontend"]), []).append(r)
    frontends = sorted({fe for _, fe in groups}, key=_fe_order)
    colour = {fe: f"C{i % 10}" for i, fe in enumerate(frontends)}
    # small horizontal offsets so the error bars of neighbouring lines stay apart
    keys = sorted(groups, key=lambda k: (_am_order(k[0]), _fe_order(k[1])))
    offset = {k: 0.5 * (i / (len(keys) - 1) - 0.5) if len(keys) > 1 else 0.0
              for i, k in enumerate(keys)}  # one line: at its SNRs
    for am, fe in sorted(groups, key=lambda k: (_am_order(k[0]), _fe_order(k[1]))):
        pts = sorted((r["snr_db"], r["wer"], *(r.get("wer_ci95") or (r["wer"], r["wer"])))
                     for r in groups[(am, fe)]
                     if r["snr_db"] is not None and _condition(r["test_set"]) != "noisy")  # fmt: skip
        if not pts:
            continue
        style = {"clean": dict(ls="--", lw=1.2, marker="s"),
                 "mct": dict(ls="-", lw=1.2, marker="o")}.get(
                     am, dict(ls="-", lw=2.6, marker="D"))  # fmt: skip
        x = np.array([p[0] for p in pts]) + offset.get((am, fe), 0.0)
        y = np.array([p[1] for p in pts])
        yerr = np.array([[p[1] - p[2] for p in pts], [p[3] - p[1] for p in pts]])
        ax.errorbar(x, y, yerr=yerr, color=colour[fe], ms=4, capsize=2, elinewidth=0.8,
                    label=f"AM {am}, front-end {fe}", **style)  # fmt: skip
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("WER (%)")
    ax.set_ylim(bottom=0)
    ax.set_title("WER vs SNR\ncolour: front-end; dashed: clean AM, solid: MCT AM;\n"
                 "thick: MCT AM on enhanced features, or a combination of them",
                 fontsize=9)  # fmt: skip
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path.with_name(f".{path.stem}.tmp.png"), dpi=120)
    plt.close(fig)
    os.replace(path.with_name(f".{path.stem}.tmp.png"), path)
    return path
