"""Reverberant and noisy versions of any clean Kaldi data dir, with simgrid's
conventions (``python -m data_prep corrupt-data-dir CLEAN_DIR OUT_DIR``).

:func:`reverberate_and_mix` (reverberation, then :func:`add_noise`) is the one
home of the corruption: simgrid calls it for its corpus (and :func:`add_noise`
alone for its further noisy copies of train), :func:`corrupt_data_dir` for a
user's clean data dir (a
LibriSpeech or WSJ dir, a pipe-based ``wav.scp``, ``segments`` included):

* the reverberant version is time-aligned with the dry one: the whole RIR is
  applied and the output samples before its direct-path peak are dropped (as
  Kaldi's ``wav-reverberate --shift-output``); the direct path has unit gain;
* noise is reverberated from another position (simulated rooms: the room's noise
  source; measured RIRs: another RIR of the list), started before the utterance
  so its reverberation is in steady state;
* the SNR is measured over the whole utterance against the reverberant speech,
  as CHiME-2 mixed;
* corrupt-data-dir applies one gain per utterance, shared by all its versions,
  only when a version would clip (levels are otherwise the user's);
* utterance ``k`` of the sorted dir draws everything from
  ``default_rng([seed, k])``, so the output is the same whatever ``--nj``.

Outputs: ``OUT_DIR/{clean,reverb,noisy}`` with parallel utt-ids (one wav per
utterance under ``OUT_DIR/wav/``), ``utt2snr`` and ``utt2cond``, and with
``per_snr_dirs`` ``OUT_DIR/noisy_<SNR>`` (every utterance at every SNR).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_SNRS = (-6, -3, 0, 3, 6, 9)
NOISE_KINDS = ("babble", "stationary", "transient")
_TAG_ROOM, _TAG_BABBLE = 1001, 1002  # seed streams of rooms and babble talkers
DONE_NAME = ".corrupt.done"


class CorruptError(ValueError):
    """A list or audio file cannot be used (the message names it)."""


def snr_tag(snr: float) -> str:
    """-6 -> ``m6dB``, 9 -> ``9dB`` (simgrid's and CHiME-2's dir names)."""
    v = int(snr) if float(snr).is_integer() else snr
    return f"m{-v}dB" if v < 0 else f"{v}dB"


# ---------------------------------------------------------------- the core
def noise_preroll(rir_noise, fs: int) -> int:
    """Samples of noise to start before the utterance (at most 1 s, or the RIR)."""
    return min(len(rir_noise.h), fs)


def reverberate_and_mix(dry: np.ndarray, rir_speech, rir_noise, noise: np.ndarray,
                        snrs, fs: int) -> tuple[np.ndarray, dict]:  # fmt: skip
    """The reverberant speech and its noisy mixes.

    Args:
        dry: ``(n,)`` clean speech.
        rir_speech, rir_noise: :class:`data_prep.simgrid.rooms.Rir` (direct path
            at gain 1, ``shift`` = its index).
        noise: ``(n + noise_preroll(rir_noise, fs),)`` dry noise.
        snrs: SNRs (dB) to mix at.

    Returns:
        ``(reverb (n,), {snr: mix (n,)})``; ``reverb`` is aligned with ``dry``.
    """
    from data_prep.simgrid.rooms import apply_rir

    rev = apply_rir(dry, rir_speech, len(dry))
    return rev, add_noise(rev, rir_noise, noise, snrs, fs)


def add_noise(rev: np.ndarray, rir_noise, noise: np.ndarray, snrs, fs: int) -> dict:
    """``{snr: mix}``: ``noise`` through ``rir_noise`` added to the reverberant
    speech ``rev`` at each SNR (dB, over the whole utterance against ``rev``).
    Another noise for the same ``rev`` (simgrid's further noisy copies) costs no
    second convolution of the speech."""
    from data_prep.simgrid.rooms import apply_rir

    n = len(rev)
    pre = noise_preroll(rir_noise, fs)
    if len(noise) < n + pre:
        raise ValueError(f"noise has {len(noise)} samples, needs {n + pre}")
    nz = apply_rir(noise, rir_noise)[pre: pre + n]
    e_rev, e_nz = np.sum(rev**2), np.sum(nz**2)
    if e_nz <= 0:
        raise ValueError("the noise is silent")
    return {snr: rev + nz * np.sqrt(e_rev / (e_nz * 10 ** (snr / 10))) for snr in snrs}


# ------------------------------------------------------------- RIRs, noises
def _read_list(path: str | Path, what: str) -> list[tuple[str, float]]:
    """``path [weight]`` lines (``#`` comments) -> [(path, weight)]."""
    out = []
    p = Path(path)
    if not p.is_file():
        raise CorruptError(f"{path}: {what} list not found")
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            w = float(parts[1]) if len(parts) > 1 else 1.0
        except ValueError:
            raise CorruptError(f"{path}:{lineno}: expected 'FILE [WEIGHT]', "
                               f"got {line!r}") from None  # fmt: skip
        if len(parts) > 2 or w <= 0:
            raise CorruptError(f"{path}:{lineno}: expected 'FILE [WEIGHT]' with a "
                               f"positive weight, got {line!r}")  # fmt: skip
        f = parts[0] if os.path.isabs(parts[0]) else str(p.parent / parts[0])
        out.append((f, w))
    if not out:
        raise CorruptError(f"{path}: empty {what} list")
    return out


def _read_mono(path: str, fs: int, what: str) -> np.ndarray:
    import soundfile as sf

    try:
        x, sr = sf.read(path, dtype="float64", always_2d=True)
    except Exception as e:  # noqa: BLE001 - soundfile's errors vary
        raise CorruptError(f"{path}: cannot read the {what}: {e}") from None
    if x.shape[1] != 1:
        raise CorruptError(f"{path}: the {what} has {x.shape[1]} channels, expected "
                           "one (pick a channel, e.g. with sox remix 1)")  # fmt: skip
    if sr != fs:
        raise CorruptError(f"{path}: the {what} is at {sr} Hz, the data dir at {fs} Hz")
    return x[:, 0]


def measured_rir(path: str, fs: int):
    """A measured RIR wav as a :class:`Rir`: direct path = its largest tap, scaled
    to gain 1 (sign kept)."""
    from data_prep.simgrid.rooms import Rir

    h = _read_mono(path, fs, "RIR")
    k = int(np.argmax(np.abs(h)))
    if not np.isfinite(h).all() or abs(h[k]) < 1e-6:
        raise CorruptError(f"{path}: the RIR is silent (largest tap {abs(h[k]):.2g})")
    return Rir((h / h[k]).astype(np.float32), k)


def simulated_rirs(n_rooms: int, seed: int, fs: int, t60_range, dist_range):
    """``n_rooms`` image-method rooms: [(speech Rir, noise Rir, room dict)]."""
    from data_prep.simgrid import rooms

    out = []
    for i in range(n_rooms):
        room = rooms.sample_room(np.random.default_rng([seed, _TAG_ROOM, i]),
                                 t60_range=t60_range, dist_range=dist_range)  # fmt: skip
        rs, rn = rooms.compute_rirs(room, fs)
        out.append((rs, rn, room.as_dict()))
    return out


# --------------------------------------------------------------- the verb
def _load_utt(d, utt: str, fs: int | None = None):
    from pipeline.audio import read_audio

    entry, start, end = d.wav_entry(utt)
    return read_audio(entry, start=start, end=end, sample_rate=fs, channel=d.audio_channel)


def _task(args) -> list[dict]:
    """Corrupt ``items`` = [(utt, its index k in the sorted dir, wav.scp entry,
    start, end)] (everything an utterance draws comes from ``[seed, k]``)."""
    (items, channel, seed, fs, rirs, noises, babble, snrs, per_snr, out_dir) = args
    import soundfile as sf

    from data_prep.simgrid import noise as simnoise
    from pipeline.audio import read_audio

    out = []
    for utt, k, entry, start, end in items:
        rng = np.random.default_rng([seed, k])
        dry = np.asarray(read_audio(entry, start=start, end=end, sample_rate=fs,
                                    channel=channel)[0], dtype=np.float64)  # fmt: skip
        n = len(dry)
        if isinstance(rirs, dict):  # measured: noise from another RIR of the list
            r = int(rng.choice(len(rirs["rirs"]), p=rirs["p"]))
            rs = rirs["rirs"][r]
            others = [j for j in range(len(rirs["rirs"])) if j != r] or [r]
            rn = rirs["rirs"][others[int(rng.integers(len(others)))]]
            room = rirs["names"][r]
        else:  # simulated: the room's talker and noise positions
            r = int(rng.integers(len(rirs)))
            rs, rn, _ = rirs[r]
            room = f"room{r}"
        pre = noise_preroll(rn, fs)
        if noises["files"]:
            j = int(rng.choice(len(noises["files"]), p=noises["p"]))
            src = noises["audio"][j]
            need = n + pre
            reps = int(np.ceil(need / len(src))) + 1
            start = int(rng.integers(len(src)))
            nz = np.tile(src, reps)[start: start + need]
            kind = Path(noises["files"][j]).name
        else:
            kind = noises["kinds"][int(rng.integers(len(noises["kinds"])))]
            streams = [np.tile(b, (n + pre) // len(b) + 2) if len(b) <= n + pre else b
                       for b in babble]  # short dirs: loop the talkers  # fmt: skip
            nz = simnoise.make_noise(kind, rng, n + pre, streams)
        pick = float(rng.choice(snrs))
        mix_snrs = sorted(set(snrs)) if per_snr else [pick]
        rev, mixes = reverberate_and_mix(dry, rs, rn, nz, mix_snrs, fs)
        versions = {"clean": dry, "reverb": rev, "noisy": mixes[pick]}
        if per_snr:
            versions |= {f"noisy_{snr_tag(s)}": m for s, m in mixes.items()}
        peak = max(float(np.max(np.abs(v))) for v in versions.values())
        gain = 1.0 if peak <= 0.99 else 0.99 / peak  # one gain: nothing clips
        for ver, sig in versions.items():
            path = Path(out_dir) / "wav" / ver / f"{utt}.wav"
            sf.write(str(path), np.round(sig * gain * 32767).astype(np.int16), fs,
                     subtype="PCM_16")  # fmt: skip
        out.append(dict(utt=utt, room=room, noise=kind, snr=pick, gain=round(gain, 4)))
    return out


def corrupt_data_dir(clean_dir, out_dir, *, rir_list=None, noise_list=None,
                     n_rooms: int = 8, t60_range=(0.2, 0.9), dist_range=(1.0, 4.0),
                     noise_kinds=NOISE_KINDS, snrs=DEFAULT_SNRS,
                     per_snr_dirs: bool = False, seed: int = 0, nj: int = 1,
                     progress: bool = True) -> dict[str, Path]:  # fmt: skip
    """Write ``out_dir/{clean,reverb,noisy}`` (+ ``noisy_<SNR>``) from a clean
    data dir; see the module doc. Returns ``{name: data dir}``."""
    from tqdm import tqdm

    from pipeline.datadir import DataDir

    d = DataDir.load(clean_dir)
    d.validate(check_files=False, check_feats=False)
    if not len(d):
        raise CorruptError(f"{clean_dir}: no utterances")
    if nj < 1:
        raise CorruptError(f"nj must be >= 1, not {nj}")
    snrs = [float(s) for s in snrs]
    if not snrs:
        raise CorruptError("no SNRs given")
    fs = int(_load_utt(d, d.utts[0])[1])
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or (
            any(out_dir.iterdir()) and not (out_dir / "corrupt_info.json").is_file())):
        raise CorruptError(f"{out_dir}: exists and is not an output of corrupt-data-dir "
                           "(it would be replaced): choose another OUT_DIR")  # fmt: skip
    if rir_list:
        entries = _read_list(rir_list, "RIR")
        w = np.array([wt for _, wt in entries])
        rirs = {"rirs": [measured_rir(f, fs) for f, _ in entries], "p": w / w.sum(),
                "names": [Path(f).name for f, _ in entries]}  # fmt: skip
        rooms_info = [{"file": f, "weight": wt} for f, wt in entries]
    else:
        if fs != 16000:
            raise CorruptError(f"{clean_dir}: simulated rooms are at 16 kHz, the data "
                               f"dir at {fs} Hz: give --rir-list")  # fmt: skip
        rirs = simulated_rirs(n_rooms, seed, fs, t60_range, dist_range)
        rooms_info = [r[2] for r in rirs]
    noises = {"files": [], "audio": [], "p": None, "kinds": list(noise_kinds)}
    babble = []
    if noise_list:
        entries = _read_list(noise_list, "noise")
        noises["files"] = [f for f, _ in entries]
        noises["audio"] = [_read_mono(f, fs, "noise") for f, _ in entries]
        for f, a in zip(noises["files"], noises["audio"]):
            if not np.any(a):
                raise CorruptError(f"{f}: the noise is silent")
        w = np.array([wt for _, wt in entries])
        noises["p"] = w / w.sum()
    else:
        if fs != 16000:
            raise CorruptError(f"{clean_dir}: simulated noises are at 16 kHz, the data "
                               f"dir at {fs} Hz: give --noise-list")  # fmt: skip
        bad = [k for k in noise_kinds if k not in NOISE_KINDS]
        if bad or not noise_kinds:
            raise CorruptError(f"noise kinds must be from {NOISE_KINDS}, got {bad}")
        if "babble" in noise_kinds:  # babble talkers: other utterances of the dir
            rng = np.random.default_rng([seed, _TAG_BABBLE])
            picks = rng.choice(len(d), size=min(len(d), 12), replace=False)
            streams = [np.asarray(_load_utt(d, d.utts[i], fs)[0], np.float64)
                       for i in sorted(picks)]  # fmt: skip
            # four talkers, each a concatenation of a few utterances, unit RMS
            for t in range(4):
                s = np.concatenate(streams[t::4] or streams)
                babble.append((s / max(np.sqrt(np.mean(s**2)), 1e-9)).astype(np.float32))

    # outputs: written under a temporary name, renamed when complete
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    versions = ["clean", "reverb", "noisy"]
    if per_snr_dirs:
        versions += [f"noisy_{snr_tag(s)}" for s in sorted(set(snrs))]
    for v in versions:
        (tmp / "wav" / v).mkdir(parents=True, exist_ok=True)
    items = [(u, k, *d.wav_entry(u)) for k, u in enumerate(d.utts)]
    args = [(items[i:i + 16], d.audio_channel, int(seed), fs, rirs, noises, babble,
             snrs, per_snr_dirs, str(tmp)) for i in range(0, len(items), 16)]  # fmt: skip
    infos: list[dict] = []
    bar = tqdm(total=len(d), desc="corrupt", unit="utt", disable=not progress)
    try:
        if nj == 1:
            for a in args:
                infos += _task(a)
                bar.update(len(a[0]))
        else:
            with ProcessPoolExecutor(nj, mp_context=mp.get_context("spawn")) as pool:
                for res in pool.map(_task, args):
                    infos += res
                    bar.update(len(res))
    finally:
        bar.close()
    info = {u["utt"]: u for u in infos}
    dirs = {}
    for v in versions:
        cond = v if v in ("clean", "reverb") else "noisy"
        tables = dict(
            wav_scp={u: str((out_dir / "wav" / v / f"{u}.wav").resolve()) for u in d.utts},
            text=dict(d.text), utt2spk=dict(d.utt2spk),
            utt2cond={u: cond for u in d.utts})  # fmt: skip
        if cond == "noisy":
            tables["utt2snr"] = {u: _fmt_snr(info[u]["snr"] if v == "noisy" else
                                             _tag_snr(v[len("noisy_"):])) for u in d.utts}
        DataDir(**tables).save(tmp / v)
        dirs[v] = out_dir / v
    (tmp / "corrupt_info.json").write_text(json.dumps(
        {"clean_dir": str(Path(clean_dir).resolve()), "seed": int(seed), "fs": fs,
         "snrs": snrs, "rooms": rooms_info, "noise_list": noises["files"] or None,
         "noise_kinds": None if noises["files"] else list(noise_kinds),
         "utts": [info[u] for u in d.utts]}, indent=1) + "\n")  # fmt: skip
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    n_gain = sum(1 for u in infos if u["gain"] < 1)
    logger.info("corrupt-data-dir %s -> %s: %d utterances, %d scaled down to avoid "
                "clipping", clean_dir, out_dir, len(d), n_gain)  # fmt: skip
    return dirs


def _fmt_snr(v: float):
    return int(v) if float(v).is_integer() else v


def _tag_snr(tag: str) -> float:
    v = float(tag[1:-2]) * -1 if tag.startswith("m") else float(tag[:-2])
    return int(v) if v.is_integer() else v
