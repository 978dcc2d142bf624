"""Tokens and features for the acoustic model.

* :class:`Tokens` — the CTC output units (characters or words), blank at index 0,
  saved as ``EXP/tokens.txt`` so decoding needs only the model dir.
* :func:`training_entries` — train data dirs (combined MCT-style, ids made unique)
  as DynamicItemDataset entries plus their CMVN stats.
* :class:`Cmvn` / :func:`iter_features` — normalised features of a data dir for
  decoding, optionally passed through a feature-enhancement front-end first.
"""

from __future__ import annotations

import logging
from pathlib import Path

import kaldiio
import numpy as np

from pipeline.datadir import DataDir, DataDirError
from pipeline.features import add_cmvn_stats, apply_cmvn, cmvn_stats

logger = logging.getLogger(__name__)

BLANK = "<blank>"
SPACE = "<space>"
CMVN_MODES = ("speaker", "global", "utt", "none")


class Tokens:
    """CTC output units. ``kind``: ``char`` (letters + ``<space>``; works for any
    transcript, e.g. GRID and WSJ) or ``word`` (a closed vocabulary, e.g. GRID's
    51 words). Index 0 is the CTC blank."""

    def __init__(self, units: list[str], kind: str):
        if kind not in ("char", "word"):
            raise ValueError(f"token kind must be char or word, not '{kind}'")
        self.kind = kind
        self.units = [BLANK] + [u for u in units if u != BLANK]
        self.index = {u: i for i, u in enumerate(self.units)}

    def __len__(self) -> int:
        return len(self.units)

    @classmethod
    def from_texts(cls, texts, kind: str = "char") -> Tokens:
        units = set()
        for t in texts:
            if kind == "char":
                units.update(SPACE if c == " " else c for c in " ".join(t.split()))
            else:
                units.update(t.split())
        return cls(sorted(units), kind)

    def encode(self, text: str) -> list[int]:
        """Text -> unit ids; unknown units are dropped (logged by the caller)."""
        if self.kind == "char":
            seq = [SPACE if c == " " else c for c in " ".join(text.split())]
        else:
            seq = text.split()
        return [self.index[u] for u in seq if u in self.index]

    def decode(self, ids) -> str:
        """Unit ids (blanks and repeats already removed) -> text."""
        units = [self.units[i] for i in ids if i != 0]
        if self.kind == "char":
            return " ".join("".join(" " if u == SPACE else u for u in units).split())
        return " ".join(units)

    def vocab_list(self) -> list[str]:
        """Units as SpeechBrain's CTC searchers want them: characters with a real
        space, words as SentencePiece-style ``▁word`` pieces (so the searcher puts
        a space before each)."""
        if self.kind == "char":
            return [BLANK] + [" " if u == SPACE else u for u in self.units[1:]]
        return [BLANK] + ["▁" + u for u in self.units[1:]]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(f"# kind {self.kind}\n"
                              + "".join(f"{u} {i}\n" for i, u in enumerate(self.units)))  # noqa: E501

    @classmethod
    def load(cls, path: str | Path) -> Tokens:
        lines = Path(path).read_text().splitlines()
        if not lines or not lines[0].startswith("# kind "):
            raise DataDirError("expected '# kind char|word' first", path=path, line=1)
        kind = lines[0].split()[2]
        units = [ln.rsplit(" ", 1)[0] for ln in lines[1:] if ln.strip()]
        return cls(units[1:], kind)


# ---------------------------------------------------------------------- CMVN
def read_global_cmvn(data_dir: Path) -> np.ndarray | None:
    p = Path(data_dir) / "cmvn_global.ark"
    return kaldiio.load_mat(str(p)) if p.is_file() else None


def speaker_stats(d: DataDir, feats_of=None) -> dict[str, np.ndarray]:
    """Per-speaker (2, D+1) CMVN stats: from ``cmvn.scp`` when the dir has one and
    ``feats_of`` is None, else accumulated over ``feats_of(utt)`` (e.g. enhanced
    features, whose stats the dir does not hold)."""
    if feats_of is None and d.cmvn_scp is not None and set(d.utt2spk.values()) <= set(d.cmvn_scp):  # noqa: E501
        return {s: kaldiio.load_mat(v) for s, v in d.cmvn_scp.items()}
    if feats_of is None:
        def feats_of(u):
            return kaldiio.load_mat(d.feats_scp[u])
    out: dict[str, np.ndarray] = {}
    for u in d.utts:
        st = cmvn_stats(feats_of(u))
        spk = d.utt2spk[u]
        out[spk] = add_cmvn_stats(out[spk], st) if spk in out else st
    return out


def normalise(feats: np.ndarray, mode: str, stats: np.ndarray | None,
              norm_vars: bool) -> np.ndarray:  # fmt: skip
    """Apply CMVN ``mode`` to (T, D) feats; ``stats`` are the speaker's or the
    global stats (unused for ``utt`` and ``none``). Returns float32."""
    feats = np.asarray(feats, dtype=np.float32)
    if mode == "none":
        return feats
    if mode == "utt":
        stats = cmvn_stats(feats)
    return apply_cmvn(feats, stats, norm_vars=norm_vars).astype(np.float32)


# ------------------------------------------------------------------- training
def _require_feats(d: DataDir, path) -> None:
    if d.feats_scp is None:
        raise DataDirError("expected feats.scp (run `python -m pipeline make-feats`)",
                           path=Path(path) / "feats.scp")  # fmt: skip


def default_suffixes(dirs: list[str | Path]) -> list[str]:
    """``train_clean, train_reverb, train_noisy`` -> ``-clean, -reverb, -noisy``
    (the name after its first ``_``); ``-1, -2, ...`` if those are not unique."""
    names = [Path(p).name for p in dirs]
    sfx = ["-" + (n.split("_", 1)[1] if "_" in n else n) for n in names]
    return sfx if len(set(sfx)) == len(sfx) else [f"-{i + 1}" for i in range(len(dirs))]


def training_entries(dirs: list[str | Path]) -> tuple[dict, dict, DataDir]:
    """Entries for a SpeechBrain DynamicItemDataset from one or more data dirs.

    Several dirs are combined with :meth:`DataDir.combine`; if their utterance ids
    collide (parallel clean / reverb / noisy dirs) :func:`default_suffixes` are
    appended to keep them unique. Per-speaker CMVN stays per source dir (the
    stats of the clean and noisy versions of a speaker differ).

    Returns:
        (entries {uid: {ark, cmvn_key, text, num_frames}}, speaker stats
        {cmvn_key: (2, D+1)}, the combined DataDir).
    """
    loaded = [DataDir.load(p) for p in dirs]
    for d, p in zip(loaded, dirs):
        _require_feats(d, p)
    ids = [set(d.utt2spk) for d in loaded]
    collide = len(loaded) > 1 and sum(map(len, ids)) != len(set().union(*ids))
    suffixes = default_suffixes(dirs) if collide else [""] * len(loaded)
    if collide:
        logger.info("train: utterance ids collide across %d dirs; suffixes %s",
                    len(loaded), suffixes)  # fmt: skip
    combined = DataDir.combine(loaded, utt_suffixes=suffixes) if len(loaded) > 1 else loaded[0]  # noqa: E501
    entries, stats = {}, {}
    for i, (d, sfx) in enumerate(zip(loaded, suffixes)):
        nf = d.utt2num_frames
        for spk, st in speaker_stats(d).items():
            stats[f"{i}:{spk}"] = st
        for u in d.utts:
            if u not in d.feats_scp:
                continue
            ark = d.feats_scp[u]
            n = nf[u] if nf and u in nf else kaldiio.load_mat(ark).shape[0]
            entries[u + sfx] = dict(ark=ark, cmvn_key=f"{i}:{d.utt2spk[u]}",
                                    text=d.text[u], num_frames=n)  # fmt: skip
    return entries, stats, combined


def global_stats(dirs: list[str | Path]) -> np.ndarray:
    """Sum of the dirs' ``cmvn_global.ark`` (computed from feats where absent)."""
    parts = []
    for p in dirs:
        st = read_global_cmvn(Path(p))
        if st is None:
            st = add_cmvn_stats(*speaker_stats(DataDir.load(p)).values())
        parts.append(st)
    return add_cmvn_stats(*parts)


# ------------------------------------------------------------------- decoding
def iter_features(data_dir: str | Path, mode: str, norm_vars: bool,
                  global_cmvn: np.ndarray | None = None, enhancer=None,
                  paste: bool = False):  # fmt: skip
    """Yield ``(utt, feats (T, D) float32)`` normalised for the AM, in C order.

    ``enhancer``: an object with ``.enhance(feats (T, D)) -> (T, D')`` applied
    before CMVN (speaker CMVN stats are then recomputed on the enhanced
    features); ``paste``: the enhanced features are followed by the ones they were
    made from, ``(T, D' + D)``, as ``paste-feats`` writes them for an AM trained on
    both. Utterances whose features cannot be read are logged and skipped.
    """
    d = DataDir.load(data_dir)
    _require_feats(d, data_dir)
    raw = {}

    def feats_of(u):
        if u not in raw:
            m = kaldiio.load_mat(d.feats_scp[u])
            if enhancer is not None:
                y = enhancer.enhance(m)
                m = np.concatenate([y, m], axis=1) if paste else y
            raw[u] = m
        return raw[u]

    spk = None
    if mode == "speaker":
        spk = speaker_stats(d, feats_of if enhancer is not None else None)
    elif mode == "global" and global_cmvn is None:
        raise ValueError("global CMVN needs the model's cmvn_global stats")
    for u in d.utts:
        if u not in d.feats_scp:
            continue
        try:
            m = feats_of(u)
        except Exception as e:  # noqa: BLE001 - per-utterance problem: log, skip
            logger.warning("decode: cannot read features of %s: %s", u, e)
            continue
        raw.pop(u, None)
        st = spk.get(d.utt2spk[u]) if spk is not None else global_cmvn
        yield u, normalise(m, mode, st, norm_vars)
