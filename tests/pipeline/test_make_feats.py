"""make-feats over a data dir: ark/scp contents, CMVN stats, atomicity, skipping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest

import pipeline.make_feats as mf
from pipeline.audio import read_audio
from pipeline.datadir import DataDir, DataDirError
from pipeline.features import compute_features
from tests.conftest import make_datadir


def _feats(d: DataDir) -> dict[str, np.ndarray]:
    return {u: kaldiio.load_mat(e) for u, e in d.feats_scp.items()}


@pytest.mark.parametrize("kind,dim", [("fbank", 40), ("mfcc", 13), ("mfcc_hires", 40)])
def test_features_cmvn_and_files(tmp_path, kind, dim):
    path = make_datadir(tmp_path, n_spk=2, n_utt=3)
    d = mf.make_feats(path, kind, progress=False)
    d = DataDir.load(path).validate()
    feats = _feats(d)
    assert set(feats) == set(d.utt2spk)
    for utt, m in feats.items():
        wav, sr = read_audio(d.wav_scp[utt])
        np.testing.assert_array_equal(m, compute_features(wav, sr, kind))
        assert m.shape[1] == dim and d.utt2num_frames[utt] == m.shape[0]
    # per-speaker stats equal a direct numpy computation, Kaldi layout (2, D+1)
    for spk, utts in d.spk2utt.items():
        x = np.concatenate([feats[u] for u in utts]).astype(np.float64)
        st = kaldiio.load_mat(d.cmvn_scp[spk])
        assert st.shape == (2, dim + 1)
        np.testing.assert_allclose(st[0, :-1], x.sum(0), rtol=1e-10)
        np.testing.assert_allclose(st[1, :-1], (x * x).sum(0), rtol=1e-10)
        assert st[0, -1] == len(x) and st[1, -1] == 0
    x = np.concatenate(list(feats.values())).astype(np.float64)
    glob = kaldiio.load_mat(str(path / mf.GLOBAL_CMVN))
    np.testing.assert_allclose(glob[0, :-1], x.sum(0), rtol=1e-10)
    assert (path / mf.FEATS_TYPE).read_text().strip() == kind


def test_parallel_jobs_match_serial(tmp_path):
    a = make_datadir(tmp_path / "a", n_spk=3, n_utt=3)
    b = make_datadir(tmp_path / "b", n_spk=3, n_utt=3)
    fa = _feats(mf.make_feats(a, progress=False))
    fb = _feats(mf.make_feats(b, nj=2, progress=False))
    assert fa.keys() == fb.keys()
    for k in fa:
        np.testing.assert_array_equal(fa[k], fb[k])


def test_interrupted_run_keeps_previous_features(tmp_path, monkeypatch):
    path = make_datadir(tmp_path)
    mf.make_feats(path, progress=False)
    before = (path / "feats.scp").read_text()
    arks = set((path / "data").iterdir())
    calls = {"n": 0}
    real = mf._extract

    def dying(job):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(mf, "_extract", dying)
    with pytest.raises(KeyboardInterrupt):
        mf.make_feats(path, progress=False, force=True)
    # the old scp is intact and still readable; no half-written ark is left behind
    assert (path / "feats.scp").read_text() == before
    DataDir.load(path).validate()
    assert set((path / "data").iterdir()) == arks


def test_rerun_skips_and_force_replaces(tmp_path):
    path = make_datadir(tmp_path)
    mf.make_feats(path, progress=False)
    scp = (path / "feats.scp").read_text()
    mf.make_feats(path, progress=False)
    assert (path / "feats.scp").read_text() == scp  # complete: skipped
    mf.make_feats(path, progress=False, force=True)
    new = DataDir.load(path).validate()
    assert (path / "feats.scp").read_text() != scp  # new token, new ark
    assert len(list((path / "data").glob("*.ark"))) == 2  # old arks removed
    mf.make_feats(path, "mfcc", progress=False)  # another kind is not "complete"
    assert next(iter(_feats(DataDir.load(path)).values())).shape[1] == 13
    assert len(new) == 6


def test_unreadable_utterances(tmp_path):
    path = make_datadir(tmp_path, n_spk=2, n_utt=3)
    d = DataDir.load(path)
    Path(d.wav_scp["spk01_u001"]).write_bytes(b"RIFF garbage")
    with pytest.raises(DataDirError, match="1 of 6 utterances failed.*spk01_u001"):
        mf.make_feats(path, progress=False)
    assert not (path / "feats.scp").exists()
    assert not list((path / "data").glob("*.tmp"))
    # tolerated when allowed: the utterance is dropped from the data dir
    d = mf.make_feats(path, progress=False, max_fail_ratio=0.5)
    assert "spk01_u001" not in DataDir.load(path).validate().utt2spk


def test_cli_make_feats_stereo_channel(tmp_path):
    path = make_datadir(tmp_path, channels=2)
    r = subprocess.run([sys.executable, "-m", "pipeline", "make-feats", str(path),
                        "--channel", "right", "--no-progress"],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    d = DataDir.load(path)
    utt = d.utts[0]
    wav, sr = read_audio(d.wav_scp[utt], channel=1)
    np.testing.assert_array_equal(_feats(d)[utt], compute_features(wav, sr, "fbank"))


def test_dir_channel_file_is_used_and_carried(tmp_path):
    path = make_datadir(tmp_path, channels=2)
    d = DataDir.load(path)
    d.channel = "right"
    d.save(path)
    d = mf.make_feats(path, progress=False)  # no channel given: the dir's file
    d = DataDir.load(path).validate()
    assert d.channel == "right" and d.audio_channel == 1
    utt = d.utts[0]
    wav, sr = read_audio(d.wav_scp[utt], channel=1)
    np.testing.assert_array_equal(_feats(d)[utt], compute_features(wav, sr, "fbank"))
    assert d.subset(first=2).channel == "right"
    other = DataDir.load(path)
    other.channel = "left"
    with pytest.raises(DataDirError, match="different channels"):
        DataDir.combine([d, other], utt_suffixes=["-a", "-b"])
    d.channel = None
    d.save(path)
    assert not (path / "channel").exists()
    (path / "channel").write_text("middle\n")
    with pytest.raises(DataDirError, match="channel:1.*'middle'"):
        DataDir.load(path).validate()


def test_features_made_part_by_part_equal_one_run(tmp_path):
    """split-data-dir + make-feats per part (as cluster jobs do) + --merge-split:
    the same features, per-speaker and global CMVN stats as one make-feats run;
    the merged dir is complete (a rerun skips it); a missing part is an error."""
    a = make_datadir(tmp_path / "a", n_spk=3, n_utt=3)
    b = make_datadir(tmp_path / "b", n_spk=3, n_utt=3)
    ref = mf.make_feats(a, progress=False)
    run = [sys.executable, "-m", "pipeline"]
    subprocess.run([*run, "split-data-dir", str(b), "2"], check=True)
    r = subprocess.run([*run, "make-feats", "--merge-split", "2", str(b)],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 1 and "part 1 of 2 has no complete fbank" in r.stderr
    for k in (1, 2):
        subprocess.run([*run, "make-feats", "--no-progress", str(b / "split2" / str(k))],
                       check=True, capture_output=True)  # fmt: skip
    subprocess.run([*run, "make-feats", "--merge-split", "2", str(b)], check=True,
                   capture_output=True)  # fmt: skip
    d = DataDir.load(b).validate()
    fa, fb = _feats(ref), _feats(d)
    assert fa.keys() == fb.keys() and d.utt2num_frames == ref.utt2num_frames
    for k in fa:
        np.testing.assert_array_equal(fa[k], fb[k])
    for spk in ref.cmvn_scp:
        np.testing.assert_array_equal(kaldiio.load_mat(ref.cmvn_scp[spk]),
                                      kaldiio.load_mat(d.cmvn_scp[spk]))  # fmt: skip
    np.testing.assert_allclose(kaldiio.load_mat(str(b / mf.GLOBAL_CMVN)),
                               kaldiio.load_mat(str(a / mf.GLOBAL_CMVN)), rtol=1e-12)
    assert mf.has_feats(d, "fbank")


def test_paste_feats(tmp_path):
    """paste-feats: each utterance's features of both dirs side by side, CMVN stats
    of the pasted features (= the two dirs' stats side by side, count once), a rerun
    skips; mismatched utterances or frame counts are errors that write nothing."""
    a = make_datadir(tmp_path / "a", n_spk=2, n_utt=3)
    b = make_datadir(tmp_path / "b", n_spk=2, n_utt=3)
    fa = _feats(mf.make_feats(a, progress=False))
    fb = _feats(mf.make_feats(b, "mfcc", progress=False))
    out = tmp_path / "pasted"
    run = [sys.executable, "-m", "pipeline", "paste-feats", "--no-progress"]
    subprocess.run([*run, str(out), str(a), str(b)], check=True, capture_output=True)
    d = DataDir.load(out).validate()
    fp = _feats(d)
    assert fp.keys() == fa.keys() and d.text == DataDir.load(a).text
    for u in fp:
        assert fp[u].shape == (fa[u].shape[0], 40 + 13)
        np.testing.assert_array_equal(fp[u], np.concatenate([fa[u], fb[u]], axis=1))
    da, db = DataDir.load(a), DataDir.load(b)
    for spk in d.cmvn_scp:
        sa, sb = kaldiio.load_mat(da.cmvn_scp[spk]), kaldiio.load_mat(db.cmvn_scp[spk])
        sp = kaldiio.load_mat(d.cmvn_scp[spk])
        np.testing.assert_allclose(sp[:, :40], sa[:, :40], rtol=1e-6)
        np.testing.assert_allclose(sp[:, 40:53], sb[:, :13], rtol=1e-6)
        assert sp[0, -1] == sa[0, -1]
    assert (out / mf.FEATS_TYPE).read_text().strip() == "fbank+mfcc"
    assert mf.has_feats(d, "fbank+mfcc")
    before = (out / "feats.scp").read_text()
    r = subprocess.run([*run, str(out), str(a), str(b)], capture_output=True, text=True)
    assert r.returncode == 0 and (out / "feats.scp").read_text() == before  # skipped
    # an utterance missing from the second dir: named, nothing written
    lines = (b / "feats.scp").read_text().splitlines()
    (b / "feats.scp").write_text("\n".join(lines[1:]) + "\n")
    out2 = tmp_path / "pasted2"
    r = subprocess.run([*run, str(out2), str(a), str(b)], capture_output=True, text=True)
    assert r.returncode == 1 and lines[0].split()[0] in r.stderr
    assert "feats.scp" in r.stderr and not (out2 / "feats.scp").exists()
    # other frame counts: named, nothing written
    (b / "feats.scp").write_text("\n".join(lines) + "\n")
    short = {u: m[:-1] for u, m in fb.items()}
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/short.ark,{b}/feats.scp") as w:
        for u in sorted(short):
            w(u, short[u])
    with pytest.raises(DataDirError, match="different frame counts"):
        mf.paste_feats([a, b], out2)
    assert not (out2 / "feats.scp").exists()
    assert not list((out2 / "data").glob("*.ark"))
    r = subprocess.run([*run, str(out2), str(a)], capture_output=True, text=True)
    assert r.returncode == 2 and "at least two" in r.stderr
