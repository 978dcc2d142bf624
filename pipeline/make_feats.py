"""Feature extraction for a whole data dir (Kaldi's ``steps/make_fbank.sh`` +
``steps/compute_cmvn_stats.sh``): ark/scp via kaldiio, per-speaker and global CMVN.

Numerics live in :mod:`pipeline.features`; this module reads audio, runs the jobs,
and writes the outputs so that an interrupted run never leaves a ``feats.scp``
pointing into a truncated ark:

1. features go to ``<ark_dir>/raw_<kind>_<name>.<token>.ark.tmp`` (a fresh token per
   run, so the previous run's arks stay valid while this one works);
2. the finished arks are renamed to ``.ark``; then ``feats.scp``, ``cmvn.scp`` and
   ``utt2num_frames`` are written through :meth:`DataDir.save` (temp + rename);
3. only then are the previous run's arks deleted.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import secrets
import time
from pathlib import Path

import kaldiio
import numpy as np
from tqdm import tqdm

from pipeline.audio import AudioError, read_audio
from pipeline.datadir import DataDir, DataDirError
from pipeline.features import add_cmvn_stats, cmvn_stats

logger = logging.getLogger(__name__)

GLOBAL_CMVN = "cmvn_global.ark"  # a single Kaldi matrix (compute-cmvn-stats style)
FEATS_TYPE = "feats_type"  # one line: the feature kind, e.g. "fbank"


# One BLAS/OpenMP thread per job: the jobs are the parallelism. numpy reads these
# when it is first imported, so they are set in the environment the spawned
# workers start with (the parent's own environment is restored afterwards).
_ONE_THREAD_ENV = {
    v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
}


def _spawn_pool(nj: int):
    saved = {k: os.environ.get(k) for k in _ONE_THREAD_ENV}
    os.environ.update(_ONE_THREAD_ENV)
    try:
        return mp.get_context("spawn").Pool(nj)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _extract(job):
    """Worker: ``(utt, entry, start, end, kind, opts) -> (utt, feats | None, err)``."""
    from pipeline.features import compute_features

    utt, entry, start, end, kind, opts = job
    try:
        wav, sr = read_audio(
            entry, channel=opts["channel"], sample_rate=opts["sample_rate"],
            resample=opts["resample"], start=start, end=end,
        )  # fmt: skip
        feats = compute_features(wav, sr, kind)
    except (AudioError, ValueError) as e:
        return utt, None, str(e)
    if feats.shape[0] == 0:
        return utt, None, f"audio shorter than one frame ({len(wav)} samples)"
    return utt, np.asarray(feats, dtype=np.float32), None


def _scp_arks(table: dict[str, str] | None) -> set[str]:
    return {v.rsplit(":", 1)[0] for v in (table or {}).values()}


def feats_kind(data_dir: str | Path) -> str | None:
    """The feature kind a data dir's ``feats_type`` names (``fbank``, ``mfcc``,
    ``fbank+fbank`` when pasted), or None when it has none (features made elsewhere)."""
    f = Path(data_dir) / FEATS_TYPE
    return f.read_text().strip() if f.is_file() else None


def has_feats(d: DataDir, kind: str) -> bool:
    """True if ``d`` has complete features of ``kind``: every utterance in
    ``feats.scp``, CMVN stats, and every ark present (the writer is atomic, so
    this means a finished run)."""
    if d.path is None or d.feats_scp is None or d.cmvn_scp is None:
        return False
    if feats_kind(d.path) != kind:
        return False
    if set(d.feats_scp) != set(d.utt2spk) or not (d.path / GLOBAL_CMVN).is_file():
        return False
    return all(Path(a).is_file() for a in _scp_arks(d.feats_scp) | _scp_arks(d.cmvn_scp))


class FeatsWriter:
    """Write features of a data dir atomically, with Kaldi CMVN stats: the one home
    of the steps in the module docstring (used by make-feats and by enhancement).

    >>> w = FeatsWriter(out_dir, "fbank", prefix="raw")   # doctest: +SKIP
    >>> try:
    ...     for utt, feats in items:
    ...         w.add(utt, spk_of[utt], feats)
    ...     d = w.commit(d)          # saves d with feats.scp, cmvn.scp, ...
    ... finally:
    ...     w.close()                # removes temp files unless committed
    """

    def __init__(self, data_dir: str | Path, kind: str, *,
                 ark_dir: str | Path | None = None, prefix: str = "raw"):  # fmt: skip
        self.data_dir = Path(data_dir).resolve()
        self.kind = kind
        ark_dir = Path(ark_dir).resolve() if ark_dir else self.data_dir / "data"
        ark_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{kind}_{self.data_dir.name}.{secrets.token_hex(4)}"
        self.feats_ark = ark_dir / f"{prefix}_{stem}.ark"
        self.cmvn_ark = ark_dir / f"cmvn_{stem}.ark"
        self._tmp_feats = self.feats_ark.with_suffix(".ark.tmp")
        self._tmp_cmvn = self.cmvn_ark.with_suffix(".ark.tmp")
        self._tmp_global = self.data_dir / f".{GLOBAL_CMVN}.tmp"
        self._f = open(self._tmp_feats, "wb")
        self.feats_scp: dict[str, str] = {}
        self.num_frames: dict[str, int] = {}
        self.spk_stats: dict[str, np.ndarray] = {}
        self._committed = False

    def add(self, utt: str, spk: str, feats: np.ndarray) -> None:
        """Append one utterance's ``(T, D)`` features (written as float32)."""
        feats = np.ascontiguousarray(feats, dtype=np.float32)
        self._f.write(f"{utt} ".encode())
        self.feats_scp[utt] = f"{self.feats_ark}:{self._f.tell()}"
        kaldiio.save_mat(self._f, feats)
        self.num_frames[utt] = feats.shape[0]
        st = cmvn_stats(feats)
        if spk in self.spk_stats:
            st = add_cmvn_stats(self.spk_stats[spk], st)
        self.spk_stats[spk] = st

    def commit(self, d: DataDir) -> DataDir:
        """Finish: rename the arks, save ``d`` (restricted to the utterances added)
        to the data dir with feats.scp, cmvn.scp and utt2num_frames, then write
        ``cmvn_global.ark`` and ``feats_type`` and delete the arks of the previous
        run. Returns the saved DataDir."""
        if not self.feats_scp:
            raise DataDirError("no features were written", path=self.data_dir)
        self._f.close()
        old: set[str] = set()
        if (self.data_dir / "utt2spk").is_file():
            try:
                prev = DataDir.load(self.data_dir)
                old = _scp_arks(prev.feats_scp) | _scp_arks(prev.cmvn_scp)
            except DataDirError:
                old = set()
        cmvn_scp: dict[str, str] = {}
        with open(self._tmp_cmvn, "wb") as f:
            for spk in sorted(self.spk_stats):
                f.write(f"{spk} ".encode())
                cmvn_scp[spk] = f"{self.cmvn_ark}:{f.tell()}"
                kaldiio.save_mat(f, self.spk_stats[spk])
        with open(self._tmp_global, "wb") as f:
            kaldiio.save_mat(f, add_cmvn_stats(*self.spk_stats.values()))
        os.replace(self._tmp_feats, self.feats_ark)
        os.replace(self._tmp_cmvn, self.cmvn_ark)
        if set(self.feats_scp) != set(d.utt2spk):
            d = d.subset(utts=self.feats_scp)
        d.set_table("feats.scp", self.feats_scp)
        d.set_table("cmvn.scp", cmvn_scp)
        d.set_table("utt2num_frames", self.num_frames)
        d.save(self.data_dir)
        os.replace(self._tmp_global, self.data_dir / GLOBAL_CMVN)
        (self.data_dir / FEATS_TYPE).write_text(self.kind + "\n")
        for ark in old - {str(self.feats_ark), str(self.cmvn_ark)}:
            Path(ark).unlink(missing_ok=True)
        self._committed = True
        return d

    def close(self) -> None:
        """Remove temporary files unless :meth:`commit` succeeded."""
        self._f.close()
        if not self._committed:
            for tmp in (self._tmp_feats, self._tmp_cmvn, self._tmp_global):
                tmp.unlink(missing_ok=True)


def make_feats(
    data_dir: str | Path,
    kind: str = "fbank",
    *,
    nj: int = 1,
    ark_dir: str | Path | None = None,
    channel: int | str | None = None,
    sample_rate: int = 16000,
    resample: bool = False,
    max_fail_ratio: float = 0.01,
    progress: bool = True,
    force: bool = False,
) -> DataDir:
    """Compute features for every utterance of ``data_dir`` and add ``feats.scp``,
    ``utt2num_frames``, per-speaker ``cmvn.scp`` and global ``cmvn_global.ark``.

    Args:
        data_dir: a valid Kaldi data dir (its audio is checked to exist first).
        kind: ``fbank`` (40-d log-mel), ``mfcc`` (13) or ``mfcc_hires`` (40); see
            :func:`pipeline.features.compute_features`.
        nj: parallel jobs (processes).
        ark_dir: where arks go (default ``<data_dir>/data``); scp paths are absolute.
        channel: as :func:`pipeline.audio.read_audio`; ``None`` takes the dir's
            ``channel`` file (:attr:`DataDir.audio_channel`, default 0).
        sample_rate, resample: as :func:`pipeline.audio.read_audio`.
        max_fail_ratio: utterances whose audio cannot be read are logged and
            dropped from the data dir; more than this share of them is an error.
        force: recompute even if the dir already has complete features of ``kind``.

    Returns:
        The updated :class:`DataDir` (also saved to ``data_dir``).
    """
    data_dir = Path(data_dir).resolve()
    d = DataDir.load(data_dir)
    d.validate(check_feats=False)
    if not force and has_feats(d, kind):
        logger.info("make-feats: %s already has %s features (force to redo)",
                    data_dir, kind)  # fmt: skip
        return d
    if channel is None:
        channel = d.audio_channel
    opts = dict(channel=channel, sample_rate=sample_rate, resample=resample)
    jobs = []
    for utt in d.utts:
        entry, start, end = d.wav_entry(utt)
        jobs.append((utt, entry, start, end, kind, opts))

    t0 = time.time()
    failed: list[tuple[str, str]] = []
    writer = FeatsWriter(data_dir, kind, ark_dir=ark_dir, prefix="raw")
    pool = None
    try:
        if nj > 1:
            pool = _spawn_pool(nj)
            chunk = max(1, min(16, len(jobs) // (4 * nj)))
            results = pool.imap(_extract, jobs, chunksize=chunk)
        else:
            results = map(_extract, jobs)
        for utt, feats, err in tqdm(
            results, total=len(jobs), desc=f"make-feats {data_dir.name}",
            unit="utt", disable=not progress, leave=False,
        ):  # fmt: skip
            if err is not None:
                failed.append((utt, err))
                logger.warning("make-feats: skipping %s: %s", utt, err)
            else:
                writer.add(utt, d.utt2spk[utt], feats)
        if failed:
            logger.warning("make-feats: %d of %d utterances failed in %s",
                           len(failed), len(jobs), data_dir)  # fmt: skip
            if len(failed) > max_fail_ratio * len(jobs):
                utt, err = failed[0]
                raise DataDirError(
                    f"{len(failed)} of {len(jobs)} utterances failed (more than "
                    f"{max_fail_ratio:.0%}); first: {utt}: {err}",
                    path=data_dir / "wav.scp",
                )
        d = writer.commit(d)
    finally:
        writer.close()
        if pool is not None:
            pool.terminate()
    num_frames = writer.num_frames
    n_frames = sum(num_frames.values())
    logger.info(
        "make-feats %s: %d utterances, %d frames (%.1f h) of %s in %.1f s",
        data_dir, len(num_frames), n_frames, n_frames / 360000, kind, time.time() - t0,
    )  # fmt: skip
    return d


def merge_split_feats(data_dir: str | Path, n: int, kind: str = "fbank") -> DataDir:
    """Give ``data_dir`` the features made part by part: after ``make-feats`` ran on
    every part ``data_dir/split<n>/{1..n}`` of ``split-data-dir`` (e.g. one cluster
    job each), ``data_dir`` gets the union of their ``feats.scp``, ``cmvn.scp`` (the
    split is by speaker, so no speaker spans two parts) and ``utt2num_frames``, the
    summed ``cmvn_global.ark`` and ``feats_type``; the arks stay where the parts
    wrote them. Utterances the parts dropped (unreadable audio) are dropped here
    too. Raises :class:`DataDirError` naming a part without complete features."""
    data_dir = Path(data_dir)
    d = DataDir.load(data_dir)
    parts = []
    for k in range(1, n + 1):
        p = data_dir / f"split{n}" / str(k)
        part = DataDir.load(p) if (p / "utt2spk").is_file() else None
        if part is None or not has_feats(part, kind):
            raise DataDirError(f"part {k} of {n} has no complete {kind} features (run "
                               f"split-data-dir {data_dir} {n} and make-feats on every "
                               "part first)", path=p)  # fmt: skip
        parts.append(part)
    feats, cmvn, frames = {}, {}, {}
    for part in parts:
        feats.update(part.feats_scp)
        cmvn.update(part.cmvn_scp)
        frames.update(part.utt2num_frames or {})
    extra = sorted(set(feats) - set(d.utt2spk))
    if extra:
        raise DataDirError(f"split{n} holds {len(extra)} utterances that the dir does "
                           f"not (e.g. '{extra[0]}'): split it again", path=data_dir)
    if set(feats) != set(d.utt2spk):
        logger.warning("merge %s: %d utterances have no features (dropped by a part)",
                       data_dir, len(d.utt2spk) - len(feats))  # fmt: skip
        d = d.subset(utts=feats)
    d.set_table("feats.scp", feats)
    d.set_table("cmvn.scp", cmvn)
    d.set_table("utt2num_frames", frames)
    tmp = data_dir / f".{GLOBAL_CMVN}.tmp"
    with open(tmp, "wb") as f:
        kaldiio.save_mat(f, add_cmvn_stats(*(kaldiio.load_mat(str(p.path / GLOBAL_CMVN))
                                             for p in parts)))
    d.save(data_dir)
    os.replace(tmp, data_dir / GLOBAL_CMVN)
    (data_dir / FEATS_TYPE).write_text(kind + "\n")
    logger.info("merge %s: features of %d parts, %d utterances", data_dir, n, len(feats))
    return d


PASTE_INFO = "paste.json"  # what a pasted dir was made from (skip when unchanged)


def _paste_stamp(in_dirs) -> dict:
    from pipeline.stamp import dir_fingerprint

    kinds = [feats_kind(p) or "fbank" for p in in_dirs]
    return {"in_dirs": [str(Path(p).resolve()) for p in in_dirs],
            "in_feats": [dir_fingerprint(p) for p in in_dirs], "kind": "+".join(kinds)}


def is_pasted(in_dirs: list[str | Path], out_dir: str | Path,
              stamp: dict | None = None) -> bool:  # fmt: skip
    """Whether ``out_dir`` holds complete pasted features of ``in_dirs`` as they
    are now (:func:`paste_feats` skips it)."""
    import json

    info = Path(out_dir) / PASTE_INFO
    if not info.is_file() or not (Path(out_dir) / "utt2spk").is_file():
        return False
    try:
        stamp = stamp or _paste_stamp(in_dirs)
        return (json.loads(info.read_text()) == stamp
                and has_feats(DataDir.load(out_dir), stamp["kind"]))  # fmt: skip
    except (DataDirError, ValueError, OSError):
        return False


def paste_feats(in_dirs: list[str | Path], out_dir: str | Path, *,
                force: bool = False, progress: bool = False) -> DataDir:  # fmt: skip
    """Kaldi's ``paste-feats`` for a whole data dir (``steps/paste_feats.sh``):
    ``out_dir`` is a copy of ``in_dirs[0]`` whose features are every input's
    features of the same utterance side by side, ``(T, D1 + D2 + ...)``, e.g. a
    front-end's enhanced features next to the noisy ones it was given, for an AM
    that sees both. CMVN stats, ``utt2num_frames``, ``cmvn_global.ark`` and
    ``feats_type`` (the inputs' kinds joined by ``+``) are computed as
    ``make-feats`` does, atomically (:class:`FeatsWriter`).

    Every input must hold features for the same utterances, with the same number
    of frames (Kaldi's ``--length-tolerance 0``); anything else raises
    :class:`DataDirError` naming the dir and utterance, and nothing is written.
    A complete output made from the inputs as they are now is kept unless
    ``force`` (:func:`is_pasted`).
    """
    import json

    if len(in_dirs) < 2:
        raise ValueError("paste-feats needs at least two input dirs")
    out_dir = Path(out_dir).resolve()
    dirs = [DataDir.load(p) for p in in_dirs]
    for d, p in zip(dirs, in_dirs):
        if d.feats_scp is None:
            raise DataDirError("expected feats.scp (run python -m pipeline make-feats)",
                               path=Path(p) / "feats.scp")  # fmt: skip
    stamp = _paste_stamp(in_dirs)
    if not force and is_pasted(in_dirs, out_dir, stamp):
        logger.info("paste-feats: %s is complete (force to redo)", out_dir)
        return DataDir.load(out_dir)
    kind = stamp["kind"]
    info = out_dir / PASTE_INFO
    first = dirs[0]
    utts = [u for u in first.utts if u in first.feats_scp]
    for d, p in zip(dirs[1:], in_dirs[1:]):
        missing = [u for u in utts if u not in d.feats_scp]
        extra = sorted(set(d.feats_scp) - set(utts))
        if missing or extra:
            what = (f"no features for utterance '{missing[0]}' of {in_dirs[0]}"
                    if missing else
                    f"features for utterance '{extra[0]}', which {in_dirs[0]} has not")
            raise DataDirError(f"{what} ({len(missing)} missing, {len(extra)} extra): "
                               "the dirs to paste must hold the same utterances",
                               path=Path(p) / "feats.scp")  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    info.unlink(missing_ok=True)
    writer = FeatsWriter(out_dir, kind, prefix="paste")
    try:
        for u in tqdm(utts, desc=f"paste-feats {out_dir.name}", unit="utt",
                      disable=not progress, leave=False):  # fmt: skip
            mats = [kaldiio.load_mat(d.feats_scp[u]) for d in dirs]
            n = {m.shape[0] for m in mats}
            if len(n) > 1:
                lens = ", ".join(f"{p}: {m.shape[0]}" for p, m in zip(in_dirs, mats))
                raise DataDirError(f"utterance '{u}' has different frame counts "
                                   f"({lens}): nothing was written to {out_dir}",
                                   path=Path(in_dirs[0]) / "feats.scp")  # fmt: skip
            pasted = np.concatenate(mats, axis=1)
            writer.add(u, first.utt2spk[u], pasted)
        out = DataDir(channel=first.channel)
        out.tables = {k: dict(v) for k, v in first.tables.items()}
        out = writer.commit(out)
    finally:
        writer.close()
    info.write_text(json.dumps(stamp, indent=1) + "\n")
    logger.info("paste-feats %s -> %s: %d utterances, %d dims (%s)",
                ", ".join(map(str, in_dirs)), out_dir, len(out), pasted.shape[1], kind)
    return out
