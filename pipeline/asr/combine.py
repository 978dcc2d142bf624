"""System combination of GRID decodes (``python -m pipeline combine-decodes``).

Confusion network combination (CNC; Evermann & Woodland, ICASSP 2000) on the GRID
grammar. A GRID-constrained decode (``decode --grammar grid`` or ``grid-mbr``)
writes, per utterance, the posterior of every word of each of the six slots
(``slot_post.ark``, written by :func:`write_slot_posteriors`: a 51-value vector in
:data:`pipeline.grid.SLOTS` order, from the forward-backward pass of
:class:`pipeline.asr.grammar.GridMBRSearch`). GRID's grammar makes the confusion
network exact: one bin per slot, every word of the slot in it. The combination
averages the systems' slot posteriors utterance by utterance and takes each
slot's most probable word, the minimum Bayes risk decision for the averaged
posteriors (as ROVER's voting with confidences, Fiscus 1997, but with no word
alignment to guess). Its decode dir is like any other (``hyp``, ``ref``, ``wer``,
``decode.json``, ``slot_post.ark``), so scoring and the report treat it as one
more system, and combinations compose.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from pipeline.datadir import DataDirError
from pipeline.grid import SLOTS

logger = logging.getLogger(__name__)

SLOT_POST = "slot_post.ark"
N_GRID_WORDS = sum(len(s) for s in SLOTS)  # 51: the vector's length
_BOUNDS = np.cumsum([0] + [len(s) for s in SLOTS])


def slot_vector(post: list[np.ndarray], slot_words: list[list[str]]) -> np.ndarray:
    """One utterance's slot posteriors (one array per slot over ``slot_words[k]``,
    which may lack words the AM has no unit for) -> the (51,) float32 vector in
    :data:`SLOTS` order (0 for a missing word)."""
    v = np.zeros(N_GRID_WORDS, dtype=np.float32)
    for k, (p, words) in enumerate(zip(post, slot_words)):
        for w, x in zip(words, p):
            v[_BOUNDS[k] + SLOTS[k].index(w)] = x
    return v


def write_slot_posteriors(out_dir: Path, vectors: dict[str, np.ndarray]) -> None:
    """``out_dir/slot_post.ark`` (Kaldi binary ark of float vectors, sorted by
    utterance id), written to a temp file and renamed."""
    import kaldiio

    tmp = out_dir / f".{SLOT_POST}.tmp"
    kaldiio.save_ark(str(tmp), {u: vectors[u] for u in sorted(vectors)})
    os.replace(tmp, out_dir / SLOT_POST)


def read_slot_posteriors(decode_dir: Path) -> dict[str, np.ndarray]:
    """The slot posteriors of a decode dir; :class:`DataDirError` naming the file
    when it is missing or a vector has the wrong length."""
    import kaldiio

    path = Path(decode_dir) / SLOT_POST
    if not path.is_file():
        raise DataDirError("expected the slot posteriors of a GRID-constrained decode "
                           "(python -m pipeline decode --grammar grid)", path=path)  # fmt: skip
    out = {}
    for u, v in kaldiio.load_ark(str(path)):
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        if v.shape != (N_GRID_WORDS,):
            raise DataDirError(f"utterance {u}: {v.size} values, expected {N_GRID_WORDS} "
                               "(one per GRID word)", path=path)  # fmt: skip
        out[u] = v
    return out


def slot_decision(v: np.ndarray) -> list[str]:
    """Each slot's most probable word of a (51,) posterior vector."""
    return [SLOTS[k][int(np.argmax(v[_BOUNDS[k]:_BOUNDS[k + 1]]))] for k in range(len(SLOTS))]


def _meta(decode_dir: Path) -> dict:
    from pipeline.scoring import read_decode_meta

    meta = read_decode_meta(decode_dir)
    if meta is None:
        raise DataDirError("not a finished decode dir (no readable decode.json)",
                           path=Path(decode_dir) / "decode.json")  # fmt: skip
    return meta


def combine_is_complete(out_dir, in_dirs) -> bool:
    """True if ``out_dir`` holds a finished combination of the same decode dirs,
    newer than each of them."""
    from pipeline.scoring import read_decode_meta

    meta = read_decode_meta(out_dir)
    if meta is None or meta.get("members") != [str(Path(d).resolve()) for d in in_dirs]:
        return False
    t = (Path(out_dir) / "decode.json").stat().st_mtime
    return all((Path(d) / "decode.json").is_file()
               and (Path(d) / "decode.json").stat().st_mtime < t for d in in_dirs)  # fmt: skip


def combine_decodes(out_dir: str | Path, in_dirs: list[str | Path]) -> dict:
    """Combine the GRID decodes ``in_dirs`` (each of the same test set) into
    ``out_dir`` (see the module doc). Returns the WER counts.

    Raises :class:`DataDirError` naming the dir when a member is not a finished
    GRID-constrained decode, or the members decoded other test sets or other
    references."""
    from pipeline.scoring import frontend_of_decode_dir, read_text, write_decode_scores
    from pipeline.stamp import atomic_text

    out_dir = Path(out_dir)
    in_dirs = [Path(d) for d in in_dirs]
    if len(in_dirs) < 2:
        raise ValueError("combine-decodes needs at least two decode dirs")
    metas = [_meta(d) for d in in_dirs]
    refs = read_text(in_dirs[0] / "ref")
    for d, m in zip(in_dirs[1:], metas[1:]):
        if m.get("test_set") != metas[0].get("test_set") or read_text(d / "ref") != refs:
            raise DataDirError(f"another test set than {in_dirs[0]} ({m.get('test_set')} "
                               f"vs {metas[0].get('test_set')}, or other references)",
                               path=d / "ref")  # fmt: skip
    posts = [read_slot_posteriors(d) for d in in_dirs]
    combined, hyps = {}, {}
    for u in refs:
        have = [p[u] for p in posts if u in p]
        if not have:  # too short for every system: no hypothesis
            continue
        combined[u] = np.mean(have, axis=0).astype(np.float32)
        hyps[u] = " ".join(slot_decision(combined[u]))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "decode.json").unlink(missing_ok=True)  # written last: the done mark
    counts = write_decode_scores(out_dir, refs, hyps)
    write_slot_posteriors(out_dir, combined)
    for name in ("utt2snr", "utt2cond"):
        if (in_dirs[0] / name).is_file():
            shutil.copyfile(in_dirs[0] / name, out_dir / name)
    test_set = metas[0]["test_set"]
    meta = dict(am=out_dir.parent.name,
                frontend=frontend_of_decode_dir(out_dir, test_set) or "combined",
                test_set=test_set, search="grid-cnc",
                members=[str(d.resolve()) for d in in_dirs],
                member_systems=[[m.get("am"), m.get("frontend")] for m in metas],
                n_missing=len(refs) - len(hyps))  # fmt: skip
    atomic_text(out_dir / "decode.json", json.dumps(meta, indent=1) + "\n")
    logger.info("combine %d decodes -> %s: WER %.2f%% (%d/%d)", len(in_dirs), out_dir,
                counts["wer"], counts["n_err"], counts["n_words"])  # fmt: skip
    return counts
