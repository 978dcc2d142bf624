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


def has_feats(d: DataDir, kind: str) -> bool:
    """True if ``d`` has complete features of ``kind``: every utterance in
    ``feats.scp``, CMVN stats, and every ark present (the writer is atomic, so
    this means a finished run)."""
    if d.path is None or d.feats_scp is None or d.cmvn_scp is None:
        return False
    kind_file = d.path / FEATS_TYPE
    if not kind_file.is_file() or kind_file.read_text().strip() != kind:
        return False
    if set(d.feats_scp) != set(d.utt2spk) or not (d.path / GLOBAL_CMVN).is_file():
        return False
    return all(Path(a).is_file() for a in _scp_arks(d.feats_scp) | _scp_arks(d.cmvn_scp))


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
    ark_dir = Path(ark_dir).resolve() if ark_dir else data_dir / "data"
    ark_dir.mkdir(parents=True, exist_ok=True)
    old_arks = _scp_arks(d.feats_scp) | _scp_arks(d.cmvn_scp)
    token = secrets.token_hex(4)
    stem = f"{kind}_{data_dir.name}.{token}"
    feats_ark = ark_dir / f"raw_{stem}.ark"
    cmvn_ark = ark_dir / f"cmvn_{stem}.ark"
    if channel is None:
        channel = d.audio_channel
    opts = dict(channel=channel, sample_rate=sample_rate, resample=resample)
    jobs = []
    for utt in d.utts:
        entry, start, end = d.wav_entry(utt)
        jobs.append((utt, entry, start, end, kind, opts))

    t0 = time.time()
    feats_scp: dict[str, str] = {}
    num_frames: dict[str, int] = {}
    spk_stats: dict[str, np.ndarray] = {}
    failed: list[tuple[str, str]] = []
    tmp_feats = feats_ark.with_suffix(".ark.tmp")
    pool = None
    try:
        if nj > 1:
            pool = _spawn_pool(nj)
            results = pool.imap(_extract, jobs, chunksize=max(1, min(16, len(jobs) // (4 * nj))))  # noqa: E501
        else:
            results = map(_extract, jobs)
        with open(tmp_feats, "wb") as f:
            for utt, feats, err in tqdm(
                results, total=len(jobs), desc=f"make-feats {data_dir.name}",
                unit="utt", disable=not progress, leave=False,
            ):  # fmt: skip
                if err is not None:
                    failed.append((utt, err))
                    logger.warning("make-feats: skipping %s: %s", utt, err)
                    continue
                f.write(f"{utt} ".encode())
                feats_scp[utt] = f"{feats_ark}:{f.tell()}"
                kaldiio.save_mat(f, feats)
                num_frames[utt] = feats.shape[0]
                spk = d.utt2spk[utt]
                st = cmvn_stats(feats)
                if spk in spk_stats:
                    st = add_cmvn_stats(spk_stats[spk], st)
                spk_stats[spk] = st
    except BaseException:
        tmp_feats.unlink(missing_ok=True)
        raise
    finally:
        if pool is not None:
            pool.terminate()

    if failed:
        logger.warning("make-feats: %d of %d utterances failed in %s",
                       len(failed), len(jobs), data_dir)  # fmt: skip
        if len(failed) > max_fail_ratio * len(jobs):
            tmp_feats.unlink(missing_ok=True)
            utt, err = failed[0]
            raise DataDirError(
                f"{len(failed)} of {len(jobs)} utterances failed (more than "
                f"{max_fail_ratio:.0%}); first: {utt}: {err}",
                path=data_dir / "wav.scp",
            )

    # CMVN: per speaker (cmvn.scp) and global, Kaldi's (2, D+1) double layout
    tmp_cmvn = cmvn_ark.with_suffix(".ark.tmp")
    cmvn_scp: dict[str, str] = {}
    with open(tmp_cmvn, "wb") as f:
        for spk in sorted(spk_stats):
            f.write(f"{spk} ".encode())
            cmvn_scp[spk] = f"{cmvn_ark}:{f.tell()}"
            kaldiio.save_mat(f, spk_stats[spk])
    global_stats = add_cmvn_stats(*spk_stats.values())
    tmp_global = data_dir / f".{GLOBAL_CMVN}.tmp"
    with open(tmp_global, "wb") as f:
        kaldiio.save_mat(f, global_stats)

    os.replace(tmp_feats, feats_ark)
    os.replace(tmp_cmvn, cmvn_ark)
    if failed:
        d = d.subset(utts=feats_scp)
    d.set_table("feats.scp", feats_scp)
    d.set_table("cmvn.scp", cmvn_scp)
    d.set_table("utt2num_frames", num_frames)
    d.save(data_dir)
    os.replace(tmp_global, data_dir / GLOBAL_CMVN)
    (data_dir / FEATS_TYPE).write_text(kind + "\n")
    for old in old_arks - {str(feats_ark), str(cmvn_ark)}:
        Path(old).unlink(missing_ok=True)
    n_frames = sum(num_frames.values())
    logger.info(
        "make-feats %s: %d utterances, %d frames (%.1f h) of %s in %.1f s",
        data_dir, len(feats_scp), n_frames, n_frames / 360000, kind, time.time() - t0,
    )  # fmt: skip
    return d
