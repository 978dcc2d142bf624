"""CHiME-2 (Vincent et al., ICASSP 2013): Kaldi data dirs for Track 1 and Track 2.

Both tracks are binaural (2 channels, 16 kHz). Only files are listed here; audio is
never read. Folders are found by *name*, never by depth, because copies of the
corpus differ (upper-case names, extra levels, the package root or the
``chime2-*`` folder given as root): a wav belongs to the split / set, condition
and SNR named by its path components. Folders that name none of these are ignored
(debug log); per-utterance problems (no transcript, odd file name, duplicate) are
skipped and counted in one warning per corpus.

**Track 1, small vocabulary (GRID)** — :func:`prepare_chime2_grid`::

    <root>/data/chime2-grid/{train,devel,test}/{clean,reverberated,isolated}/
        train:       [<SNR>/]id<N>/<code>.wav
        devel, test: [<SNR>/]s<N>_<code>.wav     (<SNR>: m6dB m3dB 0dB 3dB 6dB 9dB)

Data dirs ``{train,devel,test}_grid_{clean,reverb,noisy}`` and
``{devel,test}_grid_noisy_<SNR>``. Speaker ``s<NN>`` (``id1`` and ``s1_`` both give
``s01``: zero-padded so C order is numeric order), utt-id ``s01_bbaf2n``; the
clean / reverb / noisy versions of an utterance share it (parallel dirs, as
simgrid). A dir that holds the same utterance at several SNRs (the all-SNR noisy
dirs of devel and test) suffixes *every* utt-id with its SNR tag
(``s01_bbaf2n_m6dB``) to keep ids unique; per-SNR dirs keep the plain ids. The
transcript is the GRID code spelled out in lower case (``bbaf2n`` -> "bin blue at
f two now", :func:`pipeline.grid.code_to_words`), or the HTK MLF's words
(lower-cased; ``sil``/``sp`` dropped) when ``mlf`` is given.

**Track 2, medium vocabulary (WSJ0-5k)** — :func:`prepare_chime2_wsj0`::

    <root>/data/chime2-wsj0/{reverberated,isolated}/... <set> ... [<SNR>] ... <id>.wav

with sets ``si_tr_s``, ``si_dt_05``, ``si_et_05`` at any depth. Names follow
Kaldi's ``egs/chime2/s5`` recipe: dirs ``train_si84_{reverb,noisy}``,
``dev_dt_05_{reverb,noisy}``, ``test_eval92_5k_{reverb,noisy}`` (those present)
and ``{dev_dt_05,test_eval92_5k}_noisy_<SNR>``; utt-id = lower-case WSJ id + a
condition digit (clean 0, reverb 1, 9dB 2, 6dB 3, 3dB 4, 0dB 5, m3dB 6, m6dB 7),
so ids differ between conditions (not parallel: join on the first 8 characters);
speaker = the first 3 characters. Transcripts come from every ``*.dot`` file
under the WSJ0 root, normalized as Kaldi's ``egs/wsj/s5/local/
normalize_transcript.pl`` (see :func:`normalize_wsj_transcript`). Track 2 ships no
dry clean audio (the clean WSJ0 .wv1 files are not part of the CHiME-2 package):
front-ends train towards the reverberated signals there (``target: reverb``).

**Channel.** Every dir written gets a one-line file ``channel`` (``left``,
``right`` or ``mean``); wav.scp keeps the binaural files as they are. Read it with
:attr:`pipeline.datadir.DataDir.audio_channel`, which returns the ``channel`` argument of
:func:`pipeline.audio.read_audio` (``0``, ``1`` or ``"mean"``).
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.grid import code_to_words
from pipeline.datadir import CHANNELS, DataDir, DataDirError

logger = logging.getLogger(__name__)


GRID_SPLITS = ("train", "devel", "test")
GRID_CONDS = {"clean": "clean", "reverberated": "reverb", "isolated": "noisy"}
WSJ_SETS = {"si_tr_s": "train_si84", "si_dt_05": "dev_dt_05",
            "si_et_05": "test_eval92_5k"}  # fmt: skip
WSJ_CONDS = {"reverberated": "reverb", "isolated": "noisy"}
# Kaldi chime2 s5: the digit appended to the WSJ id for each condition
WSJ_COND_DIGIT = {"clean": 0, "reverb": 1, "9dB": 2, "6dB": 3, "3dB": 4, "0dB": 5,
                  "m3dB": 6, "m6dB": 7}  # fmt: skip
NOISE_WORD = "<NOISE>"

_SNR_RE = re.compile(r"^(m?)(\d+)db$", re.IGNORECASE)
_GRID_FILE_RE = re.compile(r"^(?:s(\d+)_)?([a-z0-9]{6})$", re.IGNORECASE)
_GRID_SPK_DIR_RE = re.compile(r"^(?:id|s)(\d+)$", re.IGNORECASE)
_WSJ_ID_RE = re.compile(r"^\w{4,}$", re.ASCII)
_DOT_LINE_RE = re.compile(r"^(.*)\((\w+)\)\s*$", re.ASCII)
# normalize_transcript.pl: [<noise] [noise>] (noise in the previous / next word) and
# [noise/] [/noise] (start / end of a long noise) are dropped; [noise] -> noise word
_WSJ_DROP_RE = re.compile(r"^\[<\w+\]$|^\[\w+>\]$|\[\w+/\]$|\[/\w+\]$", re.ASCII)
_WSJ_NOISE_RE = re.compile(r"\[\w+\]", re.ASCII)
_WSJ_DELETION_RE = re.compile(r"^<([\w']+)>$", re.ASCII)  # <and>: verbal deletion


@dataclass(frozen=True)
class _Rec:
    """One utterance of one data dir."""

    utt: str
    spk: str
    text: str
    wav: str
    cond: str
    snr: str | None  # SNR tag, e.g. "m6dB"


class _Skips:
    """Per-utterance problems: counted by reason, logged once at the end."""

    def __init__(self, what: str):
        self.what = what
        self.count: Counter[str] = Counter()
        self.example: dict[str, str] = {}

    def add(self, reason: str, path) -> None:
        self.count[reason] += 1
        self.example.setdefault(reason, str(path))
        logger.debug("%s: skipping %s: %s", self.what, path, reason)

    def log(self) -> None:
        if not self.count:
            return
        parts = [f"{n} {r} (e.g. {self.example[r]})" for r, n in self.count.items()]
        logger.warning("%s: skipped %d utterances: %s", self.what,
                       sum(self.count.values()), "; ".join(parts))  # fmt: skip


# ------------------------------------------------------------------ helpers
def snr_tag(name: str) -> tuple[str, int] | None:
    """``"m6dB"`` -> ``("m6dB", -6)``; ``"9DB"`` -> ``("9dB", 9)``; else ``None``."""
    m = _SNR_RE.match(name)
    if not m:
        return None
    db = int(m.group(2))
    return f"{m.group(1).lower()}{db}dB", -db if m.group(1) else db


def _check_channel(channel: str) -> str:
    if channel not in CHANNELS:
        raise ValueError(
            f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    return channel


def _corpus_wavs(root: Path, sets: dict[str, str], conds: dict[str, str],
                 tag: str):  # fmt: skip
    """Every wav under ``root`` whose path names a set and a condition (by any
    component, case-insensitive, at any depth): yields ``(path, lower-cased
    folder components, set, condition)``. Other folders are logged once and
    skipped."""
    ignored: set[Path] = set()
    for f in _walk_files(root):
        if f.suffix.lower() != ".wav":
            continue
        parts = [p.lower() for p in f.relative_to(root).parts[:-1]]
        wset = next((sets[p] for p in parts if p in sets), None)
        cond = next((conds[p] for p in parts if p in conds), None)
        if wset is None or cond is None:
            if f.parent not in ignored:
                ignored.add(f.parent)
                logger.debug("%s: ignoring %s (not under %s and %s)", tag, f.parent,
                             "|".join(sets), "|".join(conds))  # fmt: skip
            continue
        yield f, parts, wset, cond


def _walk_files(root: Path):
    """Every file under ``root`` (symlinks followed, loops cut), sorted."""
    seen = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _find_corpus(root, name: str, expect: str) -> Path:
    """``<root>/data/<name>`` (or ``root`` itself if it is that folder)."""
    root = Path(root)
    if not root.is_dir():
        raise DataDirError(f"expected the CHiME-2 corpus folder (with data/{name}), "
                           "not found", path=root)  # fmt: skip
    for cand in (root / "data" / name, root / name, root):
        if cand.is_dir() and cand.name == name:
            return cand
    raise DataDirError(f"expected {root / 'data' / name / expect}, not found",
                       path=root / "data" / name / expect)  # fmt: skip


def _save(out_dir: Path, name: str, recs: list[_Rec], channel: str,
          noisy: bool) -> Path:  # fmt: skip
    d = DataDir(
        wav_scp={r.utt: r.wav for r in recs},
        text={r.utt: r.text for r in recs},
        utt2spk={r.utt: r.spk for r in recs},
        utt2snr={r.utt: float(snr_tag(r.snr)[1]) for r in recs if r.snr}
        if noisy and any(r.snr for r in recs) else None,
        utt2cond={r.utt: r.cond for r in recs},
        channel=channel,
    )  # fmt: skip
    path = d.save(out_dir / name)
    logger.info("wrote %s (%d utterances)", path, len(d))
    return path


def _unique(recs: list[_Rec], skips: _Skips) -> list[_Rec]:
    """Drop repeated utt-ids (the first path in sorted order wins)."""
    out: dict[str, _Rec] = {}
    for r in sorted(recs, key=lambda r: r.wav):
        if r.utt in out:
            skips.add(f"duplicates of an utterance (kept {out[r.utt].wav})", r.wav)
        else:
            out[r.utt] = r
    return list(out.values())


# -------------------------------------------------------------- Track 1: GRID
def grid_speaker(n: int) -> str:
    """GRID talker number -> speaker id (``1`` -> ``"s01"``)."""
    return f"s{int(n):02d}"


def _grid_key(parts) -> tuple[str | None, str | None]:
    """``(speaker, code)`` from path components (file name last, no suffix)."""
    m = _GRID_FILE_RE.match(parts[-1])
    if not m:
        return None, None
    num = m.group(1)
    if num is None:
        for p in reversed(parts[:-1]):
            dm = _GRID_SPK_DIR_RE.match(p)
            if dm:
                num = dm.group(1)
                break
    return (grid_speaker(num) if num is not None else None), m.group(2).lower()


def read_mlf(path: str | Path) -> dict[tuple[str | None, str], str]:
    """Read an HTK master label file of GRID transcripts (e.g. ``allids.mlf``).

    Each entry is a quoted label-file pattern (``"*/s1_bbaf2n.lab"``) then one label
    per line (``word`` or ``start end word [...]``) up to a line ``.``. Returns
    ``{(speaker or None, code): "lower case words"}``; ``sil`` and ``sp`` are
    dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise DataDirError("expected an HTK MLF (e.g. allids.mlf), not found",
                           path=path)  # fmt: skip
    out: dict[tuple[str | None, str], str] = {}
    key, words = None, []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#!MLF!#"):
                continue
            if line.startswith('"'):
                parts = line.strip('"').replace("\\", "/").split("/")
                parts[-1] = parts[-1].rsplit(".", 1)[0]  # s1_bbaf2n.lab -> s1_bbaf2n
                spk, code = _grid_key(parts)
                key, words = ((spk, code) if code else None), []
            elif line == ".":
                if key is not None and words:
                    out.setdefault(key, " ".join(words))
                key, words = None, []
            elif key is not None:
                tok = line.split()
                w = tok[2] if len(tok) >= 3 and tok[0].isdigit() and tok[1].isdigit() \
                    else tok[0]  # fmt: skip
                if w.lower() not in ("sil", "sp"):
                    words.append(w.lower())
    return out


def prepare_chime2_grid(corpus_dir: str | Path, out_dir: str | Path, *,
                        channel: str = "left",
                        mlf: str | Path | None = None) -> dict[str, Path]:  # fmt: skip
    """Write Kaldi data dirs for CHiME-2 Track 1 (layout in the module docstring).

    Args:
        corpus_dir: the CHiME-2 package root (holding ``data/chime2-grid``), or the
            ``chime2-grid`` folder itself.
        out_dir: where the data dirs go (``out_dir/<name>``).
        channel: ``left``, ``right`` or ``mean`` of the binaural audio, written to
            each dir's ``channel`` file (:attr:`DataDir.audio_channel`; make-feats uses it).
        mlf: optional HTK MLF with the transcripts; without it the transcript is
            spelled out from the GRID code in the file name.

    Returns:
        ``{name: path}`` of the dirs written (only those with utterances).

    Raises:
        DataDirError: the corpus (or ``mlf``) is missing, or holds no utterance.
    """
    _check_channel(channel)
    grid = _find_corpus(corpus_dir, "chime2-grid", "train/reverberated")
    if not any(p.is_dir() and p.name.lower() in GRID_SPLITS for p in grid.iterdir()):
        raise DataDirError(f"expected {grid / 'train' / 'reverberated'}, not found "
                           "(no train, devel or test folder)",
                           path=grid / "train")  # fmt: skip
    labels = read_mlf(mlf) if mlf is not None else None
    skips = _Skips("chime2-grid")
    # (split, condition) -> records; keys kept plain here, suffixed below
    found: dict[tuple[str, str], list[_Rec]] = defaultdict(list)
    grid_sets = {p: p for p in GRID_SPLITS}
    wavs = _corpus_wavs(grid, grid_sets, GRID_CONDS, "chime2-grid")
    for f, parts, split, cond in wavs:
        snr = next((snr_tag(p)[0] for p in parts if snr_tag(p)), None)
        spk, code = _grid_key(list(f.relative_to(grid).parts[:-1]) + [f.stem])
        if code is None:
            skips.add("file names not <code>.wav or s<N>_<code>.wav", f)
            continue
        if spk is None:
            skips.add("without a speaker (no id<N> folder or s<N>_ prefix)", f)
            continue
        if labels is not None:
            text = labels.get((spk, code)) or labels.get((None, code))
        else:
            try:
                text = code_to_words(code)
            except ValueError:
                text = None
        if not text:
            skips.add("without transcript", f)
            continue
        found[(split, cond)].append(
            _Rec(f"{spk}_{code}", spk, text, os.path.abspath(f), cond, snr))
    if not found:
        raise DataDirError(f"expected wavs under {grid}/<split>/<condition>/, "
                           "none found", path=grid)  # fmt: skip

    groups: dict[str, list[_Rec]] = {}
    for (split, cond), recs in found.items():
        groups[f"{split}_grid_{cond}"] = recs
        if cond == "noisy" and split != "train":
            for r in recs:
                if r.snr:
                    groups.setdefault(f"{split}_grid_noisy_{r.snr}", []).append(r)
    out_dir = Path(out_dir)
    written = {}
    for name in sorted(groups):
        recs = groups[name]
        if len({(r.utt, r.snr) for r in recs}) > len({r.utt for r in recs}):
            # the same utterance at several SNRs: make every id in this dir unique
            recs = [_Rec(f"{r.utt}_{r.snr or 'nosnr'}", r.spk, r.text, r.wav,
                         r.cond, r.snr) for r in recs]  # fmt: skip
            logger.info("chime2-grid: %s holds utterances at several SNRs; "
                        "utt-ids get an _<SNR> suffix", name)  # fmt: skip
        recs = _unique(recs, skips)
        written[name] = _save(out_dir, name, recs, channel, noisy="_noisy" in name)
    skips.log()
    return written


# ------------------------------------------------------------- Track 2: WSJ0
def normalize_wsj_transcript(text: str, noise_word: str = NOISE_WORD) -> str:
    """Normalize a WSJ0 .dot transcript as Kaldi's ``egs/wsj/s5/local/
    normalize_transcript.pl`` does, word by word.

    Upper-case; backslashes removed (``isn\\'t`` -> ``ISN'T``); ``%PERCENT`` ->
    ``PERCENT``, ``.POINT`` -> ``POINT``; deleted: ``[<noise]`` / ``[noise>]``
    (noise during the previous / next word), ``[noise/]`` / ``[/noise]`` (start /
    end of a long noise), ``~`` (truncation) and ``.`` (pause); other bracketed
    noises (``[loud_breath]``) -> ``noise_word``; verbal deletions ``<and>`` ->
    ``AND`` (spoken, so kept); ``--DASH`` -> ``-DASH`` (the CMU dictionary's form).
    """
    out = []
    for w in text.split():
        w = w.upper().replace("\\", "")
        if w == "%PERCENT":
            w = "PERCENT"
        elif w == ".POINT":
            w = "POINT"
        if _WSJ_DROP_RE.search(w) or w in ("~", "."):
            continue
        if _WSJ_NOISE_RE.search(w):
            out.append(noise_word)
            continue
        m = _WSJ_DELETION_RE.match(w)
        if m:
            out.append(m.group(1))
        elif w == "--DASH":
            out.append("-DASH")
        else:
            out.append(w)
    return " ".join(out)


def read_dot_transcripts(wsj0_root: str | Path) -> dict[str, str]:
    """Raw transcripts from every ``*.dot`` file (any case) under ``wsj0_root``:
    ``{lower-case WSJ id: text}``; each line reads ``<words> (<id>)``."""
    root = Path(wsj0_root)
    if not root.is_dir():
        raise DataDirError("expected the WSJ0 corpus folder (with *.dot transcripts), "
                           "not found", path=root)  # fmt: skip
    out: dict[str, str] = {}
    n_files = 0
    for f in _walk_files(root):
        if f.suffix.lower() != ".dot":
            continue
        n_files += 1
        with open(f, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                m = _DOT_LINE_RE.match(line.strip())
                if not m:
                    if line.strip():
                        logger.debug("%s:%d: not '<words> (<id>)'", f, lineno)
                    continue
                out.setdefault(m.group(2).lower(), m.group(1).strip())
    if n_files == 0:
        raise DataDirError("expected WSJ0 *.dot transcript files under it, none found",
                           path=root)  # fmt: skip
    return out


def prepare_chime2_wsj0(chime2_dir: str | Path, wsj0_dir: str | Path,
                        out_dir: str | Path, *,
                        channel: str = "left") -> dict[str, Path]:  # fmt: skip
    """Write Kaldi data dirs for CHiME-2 Track 2 (layout in the module docstring).

    Args:
        chime2_dir: the CHiME-2 package root (holding ``data/chime2-wsj0``), or the
            ``chime2-wsj0`` folder itself.
        wsj0_dir: a WSJ0 copy (LDC93S6): only its ``*.dot`` transcripts are read.
        out_dir: where the data dirs go.
        channel: ``left``, ``right`` or ``mean`` (see :func:`prepare_chime2_grid`).

    Returns:
        ``{name: path}`` of the dirs written.

    Raises:
        DataDirError: a corpus is missing, or holds no utterance.
    """
    _check_channel(channel)
    wsj = _find_corpus(chime2_dir, "chime2-wsj0", "isolated")
    if not any(p.is_dir() and p.name.lower() in WSJ_CONDS for p in wsj.iterdir()):
        raise DataDirError(f"expected {wsj / 'isolated'} or {wsj / 'reverberated'}, "
                           "not found", path=wsj / "isolated")  # fmt: skip
    raw = read_dot_transcripts(wsj0_dir)
    skips = _Skips("chime2-wsj0")
    groups: dict[str, list[_Rec]] = defaultdict(list)
    for f, parts, wset, cond in _corpus_wavs(wsj, WSJ_SETS, WSJ_CONDS, "chime2-wsj0"):
        wsj_id = f.stem.lower()
        if not _WSJ_ID_RE.match(wsj_id):
            skips.add("file names not <wsj-id>.wav", f)
            continue
        snr = next((snr_tag(p)[0] for p in parts if snr_tag(p)), None)
        if cond == "noisy" and snr not in WSJ_COND_DIGIT:
            skips.add("noisy files without a known SNR folder", f)
            continue
        text = normalize_wsj_transcript(raw.get(wsj_id, ""))
        if not text:
            skips.add("without transcript", f)
            continue
        digit = WSJ_COND_DIGIT[snr if cond == "noisy" else cond]
        rec = _Rec(f"{wsj_id}{digit}", wsj_id[:3], text, os.path.abspath(f), cond,
                   snr if cond == "noisy" else None)  # fmt: skip
        groups[f"{wset}_{cond}"].append(rec)
        if cond == "noisy" and wset != "train_si84":
            groups[f"{wset}_noisy_{snr}"].append(rec)
    if not groups:
        raise DataDirError(f"expected wavs under {wsj}/<condition>/.../<set>/, "
                           "none found", path=wsj)  # fmt: skip
    out_dir = Path(out_dir)
    written = {}
    for name in sorted(groups):
        recs = _unique(groups[name], skips)
        written[name] = _save(out_dir, name, recs, channel, noisy="_noisy" in name)
    skips.log()
    return written
