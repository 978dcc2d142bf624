"""Build the simgrid corpus: plan, synthesise, reverberate, add noise, write.

Work is split into two phases of independent tasks, each a pure function of
``(seed, task indices)`` so the output does not depend on ``nj`` or on which
process runs what:

1. materials: one task per room (image-method RIRs) and per babble talker
   (a long stream of random English words);
2. utterances: chunks of utterances; each synthesises its sentence, convolves,
   mixes and writes its wav files.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from pipeline import grid
from pipeline.stamp import atomic_text

from . import noise, rooms, speakers

logger = logging.getLogger(__name__)

FS = 16000  # Hz, corpus sample rate
SPLITS = ("train", "dev", "test")
SNRS_DB = (-6, -3, 0, 3, 6, 9)
SNR_TAGS = {-6: "m6dB", -3: "m3dB", 0: "0dB", 3: "3dB", 6: "6dB", 9: "9dB"}
# Every utterance's dry (= direct-path, "clean") speech is put at this active
# speech level (ITU-T P.56 method B, pipeline.audio.active_level_db), with no
# per-utterance gain after it: clean level is the same in every split and at
# every SNR, so it cannot tell them apart. -35 dBFS leaves headroom for the
# reverberant -6 dB mixes; a sample that would still exceed full scale is
# clipped and counted (simgrid_info.json: n_clipped).
DRY_ACTIVE_DBFS = -35.0
# Recording noise floor, RMS in 16-bit LSBs (2 LSB = -84 dBFS), added independently
# to every version as a microphone/ADC would. Without it the dry version has digital
# silence, whose log-mel sits at log(FLT_EPS) = -15.9: an artefact no real recording
# has, which dominated feature MSE/LSD (Kaldi dithers by default for the same reason).
NOISE_FLOOR_LSB = 2.0
DONE_NAME = ".simgrid.done"
FORMAT_VERSION = 6  # bump when the output of a given (size, seed) changes

# n_speakers: the first N GRID talkers, who speak in every split (closed set, as
# in CHiME-2 Track 1); per_spk: utterances per speaker and split (no talker says a
# sentence twice); rooms: RIR pool size; babble_s: seconds of speech synthesised
# per babble talker; train_noisy_copies: noisy versions of every training utterance
# (train_noisy, train_noisy2, ...), each another noise and SNR in the same room.
SIZES = {
    # tiny: the unit tests' corpus (seconds to build)
    "tiny": dict(n_speakers=12, per_spk={"train": 4, "dev": 1, "test": 1},
                 rooms={"train": 3, "dev": 1, "test": 1}, babble_s=12.0,
                 train_noisy_copies=3),
    # quick: the smoke-test run (--quick true): enough clean training speech (480
    # utterances) for the quick clean AM to recognize clean test speech (~35% WER)
    "quick": dict(n_speakers=12, per_spk={"train": 40, "dev": 2, "test": 2},
                  rooms={"train": 3, "dev": 1, "test": 1}, babble_s=12.0,
                  train_noisy_copies=3),
    # default: 600 test utterances per condition, as CHiME-2 Track 1's test set;
    # 240 dev (10 per talker) for model selection at a quarter of the test cost;
    # three noisy copies of train: at equal training time the MCT AM's pooled dev
    # WER is 20.9% with one, 16.5 with two, 16.2 with three (conf/am_default.yaml)
    "default": dict(n_speakers=24, per_spk={"train": 127, "dev": 10, "test": 25},
                    rooms={"train": 24, "dev": 6, "test": 6}, babble_s=60.0,
                    train_noisy_copies=3),
}

# Tags mixed into every random seed so that each kind of draw has its own stream.
_TAG_PLAN, _TAG_ROOM, _TAG_BABBLE, _TAG_UTT, _TAG_COPY = 1, 2, 3, 4, 5
_CHUNK = 12  # utterances per task


def _rng(seed: int, *ids: int) -> np.random.Generator:
    return np.random.default_rng([seed, *ids])


# ------------------------------------------------------------------ planning
def make_plan(size: str, seed: int) -> dict:
    """Rooms and utterance list of a corpus (cheap, no audio).

    Returns ``{"rooms": {split: [Room]}, "utts": {split: [(spk_idx, code)]}}``
    where ``spk_idx`` indexes ``speakers.GRID_SPEAKERS``. Each talker's sentences
    are drawn once, without replacement, and dealt to the splits, so utt-ids are
    unique across splits.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, not {size!r}")
    cfg = SIZES[size]
    plan = {"rooms": {}, "utts": {split: [] for split in SPLITS}}
    for s, split in enumerate(SPLITS):
        plan["rooms"][split] = [rooms.sample_room(_rng(seed, _TAG_ROOM, s, i))
                                for i in range(cfg["rooms"][split])]
    counts = [cfg["per_spk"][split] for split in SPLITS]
    for k in range(cfg["n_speakers"]):
        rng = _rng(seed, _TAG_PLAN, k)
        idx = rng.choice(grid.N_SENTENCES, sum(counts), replace=False)
        for split, part in zip(SPLITS, np.split(idx, np.cumsum(counts)[:-1])):
            plan["utts"][split] += [(k, grid.index_to_code(int(i)))
                                    for i in sorted(part)]
    return plan


# Spoken forms for espeak-ng. Alone, "a" is read as the article (schwa); the
# quoted apostrophe form makes espeak say the letter name /eI/. All other
# letters and words are already pronounced as intended (checked with
# espeak_TextToPhonemes on espeak-ng 1.52).
SPOKEN_LETTER = {c: c for c in grid.LETTERS} | {"a": "'a'"}


def spoken_text(words: str) -> str:
    """Text to give espeak-ng for a GRID transcript (letter slot spelled out)."""
    w = words.split()
    w[3] = SPOKEN_LETTER[w[3]]
    return " ".join(w)


def utt_id(spk_idx: int, code: str) -> str:
    return f"{speakers.GRID_SPEAKERS[spk_idx].spk_id}_{code}"


# ------------------------------------------------------------- phase 1 tasks
def _resample(x_int16: np.ndarray) -> np.ndarray:
    import soxr

    from .tts import ESPEAK_RATE

    return soxr.resample(x_int16.astype(np.float64) / 32768.0, ESPEAK_RATE, FS)


def _task_room(room: rooms.Room) -> tuple[rooms.Rir, rooms.Rir]:
    return rooms.compute_rirs(room, FS)


def _task_babble(seed: int, talker: int, seconds: float) -> np.ndarray:
    """One babble talker's stream: random-word sentences, ``(T,)`` float32 at
    16 kHz, unit RMS, short pauses between sentences."""
    from .tts import get_engine

    spk = speakers.BABBLE_SPEAKERS[talker]
    rng = _rng(seed, _TAG_BABBLE, talker)
    parts, total = [], 0
    while total < seconds * FS:
        words = rng.choice(speakers.BABBLE_WORDS, int(rng.integers(4, 11)))
        x = _resample(get_engine().synth(" ".join(words), **spk.tts_kwargs()))
        x = _trim(x)
        parts += [x, np.zeros(int(rng.uniform(0.05, 0.25) * FS))]
        total += len(x) + len(parts[-1])
    s = np.concatenate(parts)
    return (s / np.sqrt(np.mean(s**2))).astype(np.float32)


def _trim(x: np.ndarray, thr_db: float = -50.0) -> np.ndarray:
    """Strip leading/trailing samples below ``thr_db`` re the peak."""
    idx = np.nonzero(np.abs(x) > np.max(np.abs(x)) * 10 ** (thr_db / 20))[0]
    return x[idx[0]: idx[-1] + 1] if len(idx) else x


# ------------------------------------------------------------- phase 2 tasks
_materials_cache: dict = {}


def _materials(path: str) -> dict:
    if path not in _materials_cache:
        _materials_cache.clear()
        with np.load(path) as z:
            _materials_cache[path] = {k: z[k] for k in z.files}
    return _materials_cache[path]


def _to_int16(x: np.ndarray) -> tuple[np.ndarray, int]:
    """16-bit samples of ``x`` (full scale 1.0) and how many had to be clipped."""
    q = np.round(x * 32768.0)
    n_clip = int(np.count_nonzero((q > 32767) | (q < -32768)))
    return np.clip(q, -32768, 32767).astype(np.int16), n_clip


def _write(path: Path, x_int16: np.ndarray) -> None:
    import soundfile as sf

    sf.write(str(path), x_int16, FS, subtype="PCM_16", format="WAV")


def train_noisy_names(n_copies: int) -> list[str]:
    """Versions of the noisy training copies: ``noisy``, ``noisy2``, ..."""
    return ["noisy"] + [f"noisy{c}" for c in range(2, n_copies + 1)]


def train_noisy_dirs(size: str) -> list[str]:
    """The noisy training dirs of ``size`` (``train_noisy``, ``train_noisy2``, ...;
    ``SIZES[size]["train_noisy_copies"]``): the MCT AMs train on all of them."""
    return [f"train_{v}" for v in train_noisy_names(SIZES[size]["train_noisy_copies"])]


def _task_utts(seed: int, split: str, items: list[tuple[int, int, str]],
               n_rooms: int, n_babble: int, materials_path: str,
               wav_dir: str, n_copies: int = 1) -> list[dict]:
    """Simulate utterances ``items`` = ``[(index_in_split, spk_idx, code)]``;
    a training utterance gets ``n_copies`` noisy versions."""
    from data_prep.corrupt import add_noise, noise_preroll, reverberate_and_mix
    from pipeline.audio import active_level_db

    from .tts import get_engine

    mats = _materials(materials_path)
    streams = [mats[f"babble_{split}_{j}"] for j in range(n_babble)]
    s = SPLITS.index(split)
    out = []
    for k, spk_idx, code in items:
        spk = speakers.GRID_SPEAKERS[spk_idx]
        uid = utt_id(spk_idx, code)
        words = grid.code_to_words(code)
        rng = _rng(seed, _TAG_UTT, s, k)

        # dry speech with natural-looking silences around it, at a fixed active
        # speech level (the leading/trailing silence does not change it)
        x = _trim(_resample(get_engine().synth(spoken_text(words),
                                               **spk.tts_kwargs())))
        lead, tail = int(rng.uniform(0.15, 0.35) * FS), int(rng.uniform(0.2, 0.4) * FS)
        x *= 10 ** ((DRY_ACTIVE_DBFS - active_level_db(x, FS)) / 20)
        dry = np.concatenate([np.zeros(lead), x, np.zeros(tail)])
        n = len(dry)

        room = int(rng.integers(n_rooms))
        rir_s, rir_n = (rooms.Rir(mats[f"rir_{split}_{room}_{w}"],
                                  int(mats[f"rir_{split}_{room}_{w}_shift"]))
                        for w in ("speech", "noise"))  # fmt: skip
        kind = noise.NOISE_TYPES[int(rng.integers(len(noise.NOISE_TYPES)))]
        # the noise starts before the utterance so its reverb is in steady state
        nz = noise.make_noise(kind, rng, n + noise_preroll(rir_n, FS), streams)
        snrs = [int(rng.choice(SNRS_DB))] if split == "train" else list(SNRS_DB)
        pick = int(rng.choice(SNRS_DB)) if split != "train" else snrs[0]
        # the one home of the corruption (also corrupt-data-dir's): reverb aligned
        # with dry, SNR over the whole utterance against the reverberant speech
        rev, mixes = reverberate_and_mix(dry, rir_s, rir_n, nz, snrs, FS)
        # (version, signal, the stream its noise floor is drawn from)
        outputs = [("clean", dry, rng), ("reverb", rev, rng)] + [
            ("noisy" if split == "train" else f"noisy_{SNR_TAGS[snr]}", v, rng)
            for snr, v in mixes.items()]  # fmt: skip
        # further noisy training copies: the same reverberant speech (so noisy =
        # reverb + noise holds for every copy; not convolved again) with another
        # noise and SNR, drawn from streams of their own (the first copy's draws
        # stay as they were)
        copies = []
        for c in range(2, n_copies + 1) if split == "train" else ():
            rng_c = _rng(seed, _TAG_COPY, s, k, c)
            kind_c = noise.NOISE_TYPES[int(rng_c.integers(len(noise.NOISE_TYPES)))]
            nz_c = noise.make_noise(kind_c, rng_c, n + noise_preroll(rir_n, FS), streams)
            snr_c = int(rng_c.choice(SNRS_DB))
            copies.append(dict(version=f"noisy{c}", noise=kind_c, snr=snr_c))
            mix_c = add_noise(rev, rir_n, nz_c, [snr_c], FS)[snr_c]
            outputs.append((f"noisy{c}", mix_c, rng_c))

        base = Path(wav_dir) / split
        n_clipped = 0
        for ver, sig, r in outputs:
            floor = r.standard_normal(n) * (NOISE_FLOOR_LSB / 32768.0)
            q, c = _to_int16(sig + floor)
            n_clipped += c
            _write(base / ver / f"{uid}.wav", q)
        out.append(dict(utt=uid, split=split, spk=spk.spk_id, text=words, room=room,
                        noise=kind, snrs=snrs, pick=pick, n_clipped=n_clipped,
                        dur_s=n / FS) | ({"copies": copies} if copies else {}))
    return out


# -------------------------------------------------------------- orchestration
class _Runner:
    """Runs tasks in-process (nj=1) or in ``nj`` spawned processes."""

    def __init__(self, nj: int):
        self.pool = None
        if nj > 1:
            # spawn, not fork: the parent may hold threads (tqdm, torch)
            self.pool = ProcessPoolExecutor(nj, mp_context=mp.get_context("spawn"))

    def map(self, fn, arg_list, on_done):
        """Call ``fn(*args)`` for each args; ``on_done(i, result)`` as they end."""
        if self.pool is None:
            for i, args in enumerate(arg_list):
                on_done(i, fn(*args))
            return
        futs = {self.pool.submit(fn, *args): i for i, args in enumerate(arg_list)}
        for f in as_completed(futs):
            on_done(futs[f], f.result())

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _done_info(size: str, seed: int) -> dict:
    # the size's numbers too: changing a size's definition rebuilds its corpora
    return {"size": size, "seed": int(seed), "version": FORMAT_VERSION,
            "plan": SIZES.get(size)}


def dir_names(size: str = "default") -> list[str]:
    """Names of the data dirs :func:`prepare_simgrid` writes for ``size``."""
    names = [f"{s}_{v}" for s in SPLITS for v in ("clean", "reverb", "noisy")]
    names += train_noisy_dirs(size)[1:]
    names += [f"{s}_noisy_{SNR_TAGS[x]}" for s in ("dev", "test") for x in SNRS_DB]
    return names


def is_complete(out_dir, size: str, seed: int) -> bool:
    """Whether ``out_dir`` holds a finished corpus of this size, seed and format."""
    out_dir = Path(out_dir)
    try:
        same = json.loads((out_dir / DONE_NAME).read_text()) == _done_info(size, seed)
    except (OSError, ValueError):
        return False
    return same and all((out_dir / n / "wav.scp").is_file() for n in dir_names(size))


def prepare_simgrid(out_dir, size: str = "quick", seed: int = 0, nj: int = 1,
                    wav_dir=None, progress: bool = True, force: bool = False
                    ) -> dict[str, Path]:
    """Simulate the simgrid corpus and write its Kaldi data dirs.

    Args:
        out_dir: where the data dirs go (``{train,dev,test}_{clean,reverb,noisy}``,
            ``train_noisy2``, ``train_noisy3`` and ``{dev,test}_noisy_{m6dB,...,9dB}``).
        size: ``"tiny"`` (12 talkers, 48/12/12 utterances: unit tests),
            ``"quick"`` (12 talkers, 480/24/24: the smoke-test run) or
            ``"default"`` (24 talkers, 3048/240/600).
        seed: non-negative int; the same seed gives byte-identical wavs for
            any ``nj``.
        nj: number of worker processes.
        wav_dir: where wavs go (default ``out_dir/wav``), laid out as
            ``wav_dir/<split>/<version>/<utt>.wav``: 16 kHz, 16-bit PCM, mono.
            A rebuild first deletes ``wav_dir/{train,dev,test}``.
        progress: show a tqdm progress bar.
        force: rebuild even if a finished corpus with this size and seed exists.
    Returns:
        ``{name: path}`` of every data dir written.
    """
    from tqdm import tqdm

    from pipeline.datadir import DataDir

    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, not {size!r}")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, not {seed}")
    if int(nj) < 1:
        raise ValueError(f"nj must be >= 1, not {nj}")
    seed, nj = int(seed), int(nj)
    out_dir = Path(out_dir).resolve()
    wav_dir = (out_dir / "wav" if wav_dir is None else Path(wav_dir)).resolve()
    result = {name: out_dir / name for name in dir_names(size)}
    n_copies = SIZES[size]["train_noisy_copies"]
    done = out_dir / DONE_NAME
    if not force and is_complete(out_dir, size, seed):
        logger.info("simgrid corpus in %s is complete; skipping", out_dir)
        return result
    # From here on the corpus is incomplete until the marker is rewritten.
    done.unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        shutil.rmtree(wav_dir / split, ignore_errors=True)  # no stale wavs
    for split in SPLITS:
        vers = ["clean", "reverb"] + (
            train_noisy_names(n_copies) if split == "train" else
            [f"noisy_{SNR_TAGS[x]}" for x in SNRS_DB])
        for v in vers:
            (wav_dir / split / v).mkdir(parents=True, exist_ok=True)

    t_start = time.time()
    cfg = SIZES[size]
    plan = make_plan(size, seed)
    n_utts = sum(len(u) for u in plan["utts"].values())
    # phase 1: RIRs (longest first, for load balance) and babble streams
    jobs1 = [("rir", split, i, r) for split in SPLITS
             for i, r in enumerate(plan["rooms"][split])]
    jobs1.sort(key=lambda j: -j[3].t60)
    babble_ids = {split: [speakers.BABBLE_SPEAKERS.index(b)
                          for b in speakers.SPLIT_BABBLE[split]] for split in SPLITS}
    jobs1 += [("babble", split, j, g) for split in SPLITS
              for j, g in enumerate(babble_ids[split])]
    bar = tqdm(total=len(jobs1) + n_utts, desc="simgrid", unit="item",
               disable=not progress)
    runner = _Runner(nj)
    materials = {}
    work = Path(tempfile.mkdtemp(prefix=".simgrid_work.", dir=out_dir))
    try:
        def on_mat(i, res):
            kind, split, j, _ = jobs1[i]
            if kind == "rir":
                for w, rir in zip(("speech", "noise"), res):
                    materials[f"rir_{split}_{j}_{w}"] = rir.h
                    materials[f"rir_{split}_{j}_{w}_shift"] = np.int64(rir.shift)
            else:
                materials[f"babble_{split}_{j}"] = res
            bar.update(1)

        runner.map(_phase1,
                   [(seed, kind, obj, cfg["babble_s"]) for kind, _, _, obj in jobs1],
                   on_mat)
        t_mat = time.time() - t_start
        mat_path = work / "materials.npz"
        np.savez(mat_path, **materials)

        # phase 2: utterances, in fixed chunks
        jobs2 = []
        for split in SPLITS:
            items = [(k, spk, code)
                     for k, (spk, code) in enumerate(plan["utts"][split])]
            for c in range(0, len(items), _CHUNK):
                jobs2.append((seed, split, items[c:c + _CHUNK],
                              len(plan["rooms"][split]), len(babble_ids[split]),
                              str(mat_path), str(wav_dir), n_copies))
        infos: list[dict] = []

        def on_utts(_i, res):
            infos.extend(res)
            bar.update(len(res))

        runner.map(_task_utts, jobs2, on_utts)
    finally:
        runner.close()
        bar.close()
        _materials_cache.clear()  # nj=1 ran in this process: free the pools
        shutil.rmtree(work, ignore_errors=True)

    _write_datadirs(DataDir, infos, out_dir, wav_dir, n_copies)
    n_clipped = sum(d["n_clipped"] for d in infos)
    if n_clipped:
        logger.warning("simgrid: %d samples clipped in %d utterances", n_clipped,
                       sum(1 for d in infos if d["n_clipped"]))  # fmt: skip
    meta = dict(size=size, seed=seed, fs=FS, dry_active_dbfs=DRY_ACTIVE_DBFS,
                n_clipped=n_clipped,
                speakers=[s.as_dict()
                          for s in speakers.GRID_SPEAKERS[:cfg["n_speakers"]]],
                babble_speakers=[s.as_dict() | {"split": sp} for sp in SPLITS
                                 for s in speakers.SPLIT_BABBLE[sp]],
                rooms={sp: [r.as_dict() for r in plan["rooms"][sp]] for sp in SPLITS},
                utts=sorted(infos, key=lambda d: d["utt"].encode()))
    atomic_text(out_dir / "simgrid_info.json", json.dumps(meta, indent=1))
    atomic_text(done, json.dumps(_done_info(size, seed)))
    logger.info("simgrid %s: %d utterances in %.1f s (materials %.1f s, nj=%d)",
                size, n_utts, time.time() - t_start, t_mat, nj)
    return result


def _phase1(seed, kind, obj, babble_s):
    if kind == "rir":
        return _task_room(obj)
    return _task_babble(seed, obj, babble_s)


def _write_datadirs(DataDir, infos: list[dict], out_dir: Path, wav_dir: Path,
                    n_copies: int) -> None:
    for split in SPLITS:
        rows = [d for d in infos if d["split"] == split]
        text = {d["utt"]: d["text"] for d in rows}
        u2s = {d["utt"]: d["spk"] for d in rows}

        def scp(ver, rows=rows, split=split):
            return {d["utt"]: str(wav_dir / split / ver / f"{d['utt']}.wav")
                    for d in rows}

        def save(name, wav, snr=None, cond=None):
            DataDir(wav_scp=wav, text=text, utt2spk=u2s, utt2snr=snr,
                    utt2cond=cond).save(out_dir / name)

        save(f"{split}_clean", scp("clean"), cond={u: "clean" for u in text})
        save(f"{split}_reverb", scp("reverb"), cond={u: "reverb" for u in text})
        noisy_cond = {d["utt"]: f"noisy_{d['noise']}" for d in rows}
        if split == "train":
            save("train_noisy", scp("noisy"),
                 {d["utt"]: float(d["snrs"][0]) for d in rows}, noisy_cond)
            for c, ver in enumerate(train_noisy_names(n_copies)[1:]):
                save(f"train_{ver}", scp(ver),
                     {d["utt"]: float(d["copies"][c]["snr"]) for d in rows},
                     {d["utt"]: f"noisy_{d['copies'][c]['noise']}" for d in rows})
            continue
        for snr in SNRS_DB:
            save(f"{split}_noisy_{SNR_TAGS[snr]}", scp(f"noisy_{SNR_TAGS[snr]}"),
                 {u: float(snr) for u in text}, noisy_cond)
        pick_wav = {d["utt"]: str(wav_dir / split / f"noisy_{SNR_TAGS[d['pick']]}"
                                  / f"{d['utt']}.wav") for d in rows}
        save(f"{split}_noisy", pick_wav, {d["utt"]: float(d["pick"]) for d in rows},
             noisy_cond)
