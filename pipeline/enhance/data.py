"""Parallel (corrupted, target) feature pairs, in memory (:class:`ParallelSet`) or
indexed for streaming from their arks (:class:`StreamedPairs`), and the distances
between them.

Inputs are read from a data dir: ``fbank`` from its ``feats.scp`` (must be 40-d
log-mel, ``feats_type`` fbank), ``spectrogram`` computed from its ``wav.scp`` with
:func:`pipeline.features.compute_log_spectrogram` (257-d log power, Han 2015), so no
second feature dir has to be made. Targets always come from ``feats.scp`` (log-mel).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.datadir import DataDir, DataDirError, check_finite

logger = logging.getLogger(__name__)

INPUT_KINDS = ("fbank", "spectrogram")
# natural-log power -> dB: 10 log10(P) = (10 / ln 10) ln P
DB_PER_NEPER = 10.0 / math.log(10.0)


def _require_fbank(path: str | Path) -> None:
    """Refuse a data dir whose ``feats_type`` names features other than log-mel
    fbank (none: features made elsewhere, taken as fbank)."""
    from pipeline.make_feats import feats_kind

    ft = feats_kind(path)
    if ft not in (None, "fbank"):
        raise DataDirError(f"features are '{ft}', the front-end needs log-mel 'fbank'",
                           path=Path(path) / "feats_type")  # fmt: skip


def load_feats(path: str | Path, kind: str = "fbank") -> tuple[DataDir, dict]:
    """Read every utterance of data dir ``path`` into memory.

    Args:
        kind: ``fbank`` (feats.scp, must be log-mel) or ``spectrogram`` (computed
            from the audio).

    Returns:
        ``(datadir, {utt: (T, D) float32})``.
    """
    import kaldiio

    d = DataDir.load(path)
    if kind == "spectrogram":
        from pipeline.audio import read_audio
        from pipeline.features import compute_log_spectrogram

        out = {}
        for utt in d.utts:
            entry, start, end = d.wav_entry(utt)
            wav, sr = read_audio(entry, start=start, end=end)
            out[utt] = compute_log_spectrogram(wav, sr)
        return d, out
    if kind != "fbank":
        raise ValueError(f"unknown input kind {kind!r}; known: {INPUT_KINDS}")
    if d.feats_scp is None:
        raise DataDirError("no feats.scp: run 'python -m pipeline make-feats' first",
                           path=Path(path) / "feats.scp")  # fmt: skip
    _require_fbank(path)
    missing = sorted(set(d.utt2spk) - set(d.feats_scp))
    if missing:
        raise DataDirError(f"{len(missing)} utterances have no features (first "
                           f"{missing[0]})", path=Path(path) / "feats.scp")  # fmt: skip
    feats = {u: np.array(kaldiio.load_mat(d.feats_scp[u]), dtype=np.float32)
             for u in d.utts}  # fmt: skip
    check_finite(path, feats)  # NaN/inf in: a clear error, not a NaN model
    return d, feats


def check_parallel(noisy_dir, clean_dir, n_frames: dict, c_frames: dict) -> None:
    """Raise :class:`DataDirError` (both dirs named, with counts) unless the two
    dirs hold the same utt-ids with the same frame counts (``{utt: frames}``)."""
    only_n = sorted(set(n_frames) - set(c_frames))
    only_c = sorted(set(c_frames) - set(n_frames))
    if only_n or only_c:
        ex = (only_n or only_c)[0]
        raise DataDirError(
            f"not parallel: {len(n_frames)} utterances in {noisy_dir}, {len(c_frames)} "
            f"in {clean_dir}; {len(only_n)} only in the first, {len(only_c)} only "
            f"in the second (e.g. '{ex}')", path=noisy_dir,
        )  # fmt: skip
    bad = [(u, a, c_frames[u]) for u, a in n_frames.items() if a != c_frames[u]]
    if bad:
        u, a, b = bad[0]
        raise DataDirError(
            f"frame counts differ for {len(bad)} of {len(n_frames)} utterances between "
            f"{noisy_dir} and {clean_dir} (e.g. '{u}': {a} vs {b} frames)",
            path=noisy_dir,
        )  # fmt: skip


@dataclass
class ParallelSet:
    """Aligned (input, target) utterances from one or more pairs of data dirs.

    ``inputs[i]`` (T_i, D_in) and ``targets[i]`` (T_i, 40) are the same utterance;
    ``groups[i]`` holds its ``cond`` / ``snr`` labels (from the input dir's
    ``utt2cond`` / ``utt2snr``).
    """

    inputs: list = field(default_factory=list)
    targets: list = field(default_factory=list)
    utts: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    sources: list = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(sum(len(x) for x in self.inputs))

    def add_pair(self, noisy_dir, clean_dir, input_kind: str = "fbank") -> None:
        """Add every utterance of ``noisy_dir`` paired with the same utt-id in
        ``clean_dir``.

        Raises:
            DataDirError: the utt-ids of the two dirs differ, or an utterance has a
                different number of frames in each (both dirs named, with counts).
        """
        dn, xin = load_feats(noisy_dir, input_kind)
        dc, ytg = load_feats(clean_dir, "fbank")
        check_parallel(noisy_dir, clean_dir, {u: len(x) for u, x in xin.items()},
                       {u: len(y) for u, y in ytg.items()})  # fmt: skip
        snr, cond = dn.utt2snr or {}, dn.utt2cond or {}
        for u in dn.utts:
            self.inputs.append(xin[u])
            self.targets.append(ytg[u])
            self.utts.append(u)
            g = {}
            if u in snr:
                g["snr"] = f"{snr[u]:g}dB"
            if u in cond:
                g["cond"] = cond[u]
            self.groups.append(g)
            self.sources.append(str(noisy_dir))
        logger.info("pairs %s -> %s: %d utterances, %d frames", noisy_dir, clean_dir,
                    len(xin), sum(len(v) for v in xin.values()))  # fmt: skip


@dataclass
class StreamedPairs:
    """A training set read from its arks on demand instead of held in memory:
    the (input, target) ``feats.scp`` entries and frame counts of every pair of
    utterances (fbank inputs only). :meth:`load` reads a block of them into a
    :class:`ParallelSet`; :meth:`stats` is one streaming pass for the
    normalisation statistics. Peak memory is one block, whatever the corpus."""

    x_entries: list = field(default_factory=list)
    y_entries: list = field(default_factory=list)
    lens: np.ndarray = None
    utts: list = field(default_factory=list)
    sources: list = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return int(self.lens.sum())

    @classmethod
    def from_dirs(cls, noisy, clean) -> StreamedPairs:
        """Index matching lists of dirs (as :func:`pipeline.enhance.train.pairs`)
        from their feats.scp and utt2num_frames, reading no features; the same
        checks as :meth:`ParallelSet.add_pair`."""
        s, lens = cls(), []
        for nd, cd in zip(noisy, clean):
            dn, dc = DataDir.load(nd), DataDir.load(cd)
            for d, p in ((dn, nd), (dc, cd)):
                if d.feats_scp is None or d.utt2num_frames is None:
                    raise DataDirError("no feats.scp / utt2num_frames: run 'python -m "
                                       "pipeline make-feats' first", path=Path(p) / "feats.scp")
                _require_fbank(p)
            frames = {u: int(dn.utt2num_frames[u]) for u in dn.utts}
            check_parallel(nd, cd, frames, {u: int(dc.utt2num_frames[u]) for u in dc.utts})
            for u in dn.utts:
                s.x_entries.append(dn.feats_scp[u])
                s.y_entries.append(dc.feats_scp[u])
                s.utts.append(u)
                s.sources.append(str(nd))
                lens.append(frames[u])
        s.lens = np.asarray(lens, dtype=np.int64)
        return s

    def _read(self, i: int, check: bool = False) -> tuple[np.ndarray, np.ndarray]:
        import kaldiio

        x = np.array(kaldiio.load_mat(self.x_entries[i]), dtype=np.float32)
        y = np.array(kaldiio.load_mat(self.y_entries[i]), dtype=np.float32)
        if len(x) != len(y) or len(x) != self.lens[i]:
            raise DataDirError(f"'{self.utts[i]}': {len(x)} input and {len(y)} target "
                               f"frames, utt2num_frames says {self.lens[i]}",
                               path=self.sources[i])  # fmt: skip
        if check:
            check_finite(self.sources[i], {self.utts[i]: x})
            check_finite(self.sources[i], {self.utts[i]: y})
        return x, y

    def load(self, idx) -> ParallelSet:
        """Utterances ``idx`` (in that order) as an in-memory :class:`ParallelSet`."""
        out = ParallelSet()
        for i in idx:
            x, y = self._read(int(i))
            out.inputs.append(x)
            out.targets.append(y)
            out.utts.append(self.utts[i])
            out.groups.append({})
            out.sources.append(self.sources[i])
        return out

    def stats(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per-dimension (input mean, input std, target mean, target std) in one
        pass over the arks (float64 sums); refuses non-finite features here, once,
        before anything is trained."""
        acc = None
        for i in range(len(self.utts)):
            x, y = self._read(i, check=True)
            cur = [x.sum(0, dtype=np.float64), (x.astype(np.float64) ** 2).sum(0),
                   y.sum(0, dtype=np.float64), (y.astype(np.float64) ** 2).sum(0)]
            acc = cur if acc is None else [a + c for a, c in zip(acc, cur)]
        n = float(self.num_frames)
        mx, my = acc[0] / n, acc[2] / n
        sx = np.sqrt(np.maximum(acc[1] / n - mx ** 2, 0.0))
        sy = np.sqrt(np.maximum(acc[3] / n - my ** 2, 0.0))
        return mx, sx, my, sy

    def blocks(self, order: np.ndarray, max_frames: int) -> list[np.ndarray]:
        """``order`` cut into consecutive blocks of at most ``max_frames`` frames
        (at least one utterance each)."""
        out, cur, n = [], [], 0
        for i in order:
            if cur and n + self.lens[i] > max_frames:
                out.append(np.asarray(cur))
                cur, n = [], 0
            cur.append(int(i))
            n += int(self.lens[i])
        if cur:
            out.append(np.asarray(cur))
        return out


def frame_errors(pred: np.ndarray, ref: np.ndarray) -> tuple[float, float, int]:
    """Sums over frames of the squared error and of the LSD, and the frame count.

    pred, ref: (T, 40) natural-log mel energies. Per frame t:
    ``mse_t = mean_k (pred[t, k] - ref[t, k])^2`` and the log-spectral distance
    ``lsd_t = sqrt(mean_k (10 / ln 10 * (pred[t, k] - ref[t, k]))^2)`` in dB (RMS over
    mel bins of the log-mel difference in dB). Reported figures are the averages
    of these over all frames of a set.
    """
    diff = np.asarray(pred, np.float64) - np.asarray(ref, np.float64)
    msq = np.mean(diff * diff, axis=1)
    return float(msq.sum()), float(np.sqrt(msq).sum() * DB_PER_NEPER), len(diff)


def grouped_metrics(outputs: list, data: ParallelSet, by=("all", "snr", "cond")):
    """Feature MSE and LSD (see :func:`frame_errors`) to the target, of the input
    (``input_*``, only when it is log-mel) and of ``outputs``, per group.

    Returns ``{group_name: {n_utts, n_frames, input_mse, input_lsd_db, enh_mse,
    enh_lsd_db}}``; group names ``all``, ``snr=<x>dB``, ``cond=<c>``.
    """
    acc: dict[str, list] = {}
    for i, out in enumerate(outputs):
        tgt = data.targets[i]
        keys = []
        if "all" in by:
            keys.append("all")
        for k in ("snr", "cond"):
            if k in by and k in data.groups[i]:
                keys.append(f"{k}={data.groups[i][k]}")
        e = frame_errors(out, tgt)
        x = data.inputs[i]
        ie = frame_errors(x, tgt) if x.shape[1] == tgt.shape[1] else None
        for key in keys:
            a = acc.setdefault(key, [0, 0, 0.0, 0.0, 0.0, 0.0, ie is not None])
            a[0] += 1
            a[1] += e[2]
            a[2] += e[0]
            a[3] += e[1]
            if ie is not None:
                a[4] += ie[0]
                a[5] += ie[1]
    res = {}
    for key in sorted(acc, key=lambda k: (k != "all", k)):
        n_utt, n, se, sl, ise, isl, has_in = acc[key]
        r = {"n_utts": n_utt, "n_frames": n}
        if has_in:
            r["input_mse"] = round(ise / n, 5)
            r["input_lsd_db"] = round(isl / n, 4)
        r["enh_mse"] = round(se / n, 5)
        r["enh_lsd_db"] = round(sl / n, 4)
        res[key] = r
    return res
