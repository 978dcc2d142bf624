"""DataDir: load/save round trip and Kaldi's validation rules, one broken file each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.datadir import DataDir, DataDirError
from tests.conftest import make_datadir, write_wav


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(ln + "\n" for ln in lines))


def _problem(d: Path, **kw) -> DataDirError:
    with pytest.raises(DataDirError) as e:
        DataDir.load(d).validate(**kw)
    return e.value


def test_roundtrip_and_derived_spk2utt(datadir):
    d = DataDir.load(datadir).validate(sample_rate=16000)
    assert len(d) == 6 and d.speakers == ["spk01", "spk02"]
    assert _lines(datadir / "spk2utt")[0] == "spk01 spk01_u000 spk01_u001 spk01_u002"
    # every file is C-sorted (checked with coreutils, independent of our code)
    for name in ("wav.scp", "text", "utt2spk", "spk2utt"):
        r = subprocess.run(["sort", "-c", "-k1,1", str(datadir / name)],
                           env={"LC_ALL": "C"}, capture_output=True)  # fmt: skip
        assert r.returncode == 0, r.stderr


def test_save_sorts_in_c_locale(tmp_path):
    # upper case sorts before lower case in C order ('S' < 's'), unlike en_US
    utts = ["sa_x", "Sb_x", "Sa_x"]
    wavs = {u: str(write_wav(tmp_path / f"{u}.wav")) for u in utts}
    d = DataDir(wav_scp=wavs, text={u: "a b" for u in utts},
                utt2spk={u: u.split("_")[0] for u in utts})  # fmt: skip
    d.save(tmp_path / "d")
    keys = [ln.split()[0] for ln in _lines(tmp_path / "d" / "utt2spk")]
    assert keys == sorted(keys, key=lambda k: k.encode()) == ["Sa_x", "Sb_x", "sa_x"]


def test_unsorted_file(datadir):
    lines = _lines(datadir / "text")
    lines[0], lines[1] = lines[1], lines[0]
    _write(datadir / "text", lines)
    e = _problem(datadir)
    assert str(datadir / "text") in str(e) and e.line == 2 and "sorted" in str(e)


def test_duplicate_key(datadir):
    lines = _lines(datadir / "wav.scp")
    _write(datadir / "wav.scp", lines[:2] + [lines[1]] + lines[2:])
    e = _problem(datadir)
    assert "wav.scp:3" in str(e) and "duplicate" in str(e)


def test_utterance_without_text(datadir):
    _write(datadir / "text", _lines(datadir / "text")[1:])
    e = _problem(datadir)
    assert "text" in e.path and "spk01_u000" in str(e) and "no transcript" in str(e)


def test_empty_transcript(datadir):
    lines = _lines(datadir / "text")
    lines[2] = lines[2].split()[0]
    _write(datadir / "text", lines)
    e = _problem(datadir)
    assert e.path.endswith("text") and e.line == 3 and "empty transcript" in str(e)


def test_utt2spk_spk2utt_mismatch(datadir):
    lines = _lines(datadir / "spk2utt")
    lines[0] = lines[0].rsplit(" ", 1)[0]  # drop one utterance of spk01
    _write(datadir / "spk2utt", lines)
    e = _problem(datadir)
    assert e.path.endswith("spk2utt") and e.line == 1 and "spk01" in str(e)


def test_utt_not_prefixed_by_speaker(datadir):
    lines = _lines(datadir / "utt2spk")
    lines[0] = "spk01_u000 spk02"
    _write(datadir / "utt2spk", lines)
    e = _problem(datadir)
    assert "utt2spk:1" in str(e) and "not prefixed" in str(e)


def test_missing_wav_file(datadir):
    wav = Path(_lines(datadir / "wav.scp")[4].split()[1])
    wav.unlink()
    e = _problem(datadir)
    assert "wav.scp:5" in str(e) and str(wav) in str(e) and "not found" in str(e)


def test_wrong_sample_rate(tmp_path):
    d = make_datadir(tmp_path, sr=8000)
    e = _problem(d, sample_rate=16000)
    assert "wav.scp:1" in str(e) and "8000" in str(e) and "16000" in str(e)


def test_corrupt_ark(datadir):
    from pipeline.make_feats import make_feats

    make_feats(datadir, "fbank", progress=False)
    DataDir.load(datadir).validate()
    ark = Path(_lines(datadir / "feats.scp")[-1].split()[1].rsplit(":", 1)[0])
    size = ark.stat().st_size
    with open(ark, "r+b") as f:  # truncate the last matrix
        f.truncate(size - 100)
    e = _problem(datadir)
    assert "feats.scp:6" in str(e) and "spk02_u002" in str(e)


def test_non_finite_features_are_reported(datadir):
    """A feature matrix holding NaN/inf is a validation error naming feats.scp,
    the line and the utterance, with the count (training on it fails later)."""
    import kaldiio
    import numpy as np

    from pipeline.make_feats import make_feats

    make_feats(datadir, "fbank", progress=False)
    lines = _lines(datadir / "feats.scp")
    utt, loc = lines[2].split()
    mat = kaldiio.load_mat(loc).copy()
    mat[3, :2] = np.nan
    mat[5, 0] = np.inf
    bad = datadir / "bad.ark"
    kaldiio.save_ark(str(bad), {utt: mat}, scp=str(datadir / "bad.scp"))
    lines[2] = (datadir / "bad.scp").read_text().strip()
    _write(datadir / "feats.scp", lines)
    e = _problem(datadir)
    assert f"feats.scp:3" in str(e) and utt in str(e) and "3 non-finite" in str(e)


def test_every_problem_is_reported(datadir):
    _write(datadir / "text", [ln + "" for ln in _lines(datadir / "text")[1:]])
    lines = _lines(datadir / "utt2spk")
    lines[3] = "spk02_u000 spk01"
    _write(datadir / "utt2spk", lines)
    e = _problem(datadir)
    assert len(e.problems) >= 2


def test_segments_inside_recording(tmp_path):
    wav = write_wav(tmp_path / "rec.wav", seconds=1.0)
    d = DataDir(wav_scp={"rec1": str(wav)}, text={"s1_a": "x", "s1_b": "y"},
                utt2spk={"s1_a": "s1", "s1_b": "s1"},
                segments={"s1_a": ("rec1", 0.0, 0.5), "s1_b": ("rec1", 0.5, 1.5)})  # fmt: skip
    d.save(tmp_path / "d")
    e = _problem(tmp_path / "d", sample_rate=16000)
    assert "segments:2" in str(e) and "after the end" in str(e)


def test_fix_subset_split_combine(tmp_path):
    d_path = make_datadir(tmp_path, n_spk=3, n_utt=4)
    d = DataDir.load(d_path)
    # fix drops an utterance without text
    del d.text["spk02_u001"]
    fixed, removed = d.fix()
    assert removed == 1 and len(fixed) == 11
    fixed.save(tmp_path / "fixed")
    DataDir.load(tmp_path / "fixed").validate()
    # subset
    sub = d.subset(speakers=["spk03"])
    assert sub.speakers == ["spk03"] and set(sub.wav_scp) == set(sub.utt2spk)
    # split by speaker: parts cover everything once, a speaker never spans parts
    d = DataDir.load(d_path)
    parts = d.split(2)
    assert sorted(u for p in parts for u in p.utts) == d.utts
    assert not set(parts[0].speakers) & set(parts[1].speakers)
    assert [len(p) for p in d.split(12, per_utt=True)] == [1] * 12
    with pytest.raises(DataDirError, match="only 3 speakers"):
        d.split(4)
    # combine: shared ids need suffixes; ids stay speaker-prefixed and valid
    with pytest.raises(DataDirError, match="duplicate id"):
        DataDir.combine([d, d])
    both = DataDir.combine([d, d], utt_suffixes=["-clean", "-noisy"])
    both.save(tmp_path / "mct")
    mct = DataDir.load(tmp_path / "mct").validate()
    assert len(mct) == 24 and "spk01_u000-noisy" in mct.utt2spk


def test_cli_validate_exit_codes(datadir):
    ok = subprocess.run([sys.executable, "-m", "pipeline", "validate-data-dir",
                         str(datadir)], capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    _write(datadir / "utt2spk", _lines(datadir / "utt2spk")[::-1])
    bad = subprocess.run([sys.executable, "-m", "pipeline", "validate-data-dir",
                          str(datadir)], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1 and "utt2spk:2" in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "pipeline", "validate-data-dir"],
                           capture_output=True, text=True)  # fmt: skip
    assert usage.returncode == 2


def test_lhotse_imports_our_data_dir(datadir):
    lhotse = pytest.importorskip("lhotse")
    from lhotse.kaldi import load_kaldi_data_dir

    recs, sups, _ = load_kaldi_data_dir(datadir, sampling_rate=16000)
    lhotse.validate_recordings_and_supervisions(recs, sups)
    assert len(sups) == 6
    assert {s.speaker for s in sups} == {"spk01", "spk02"}
    assert np.isclose(recs["spk01_u001"].duration, 0.4)


def test_map_utts_and_copy_cli(tmp_path):
    path = make_datadir(tmp_path, n_spk=2, n_utt=2)
    d = DataDir.load(path)

    def copy(src, dst, *opts):
        r = subprocess.run([sys.executable, "-m", "pipeline", "copy-data-dir",
                            str(src), str(dst), *opts], capture_output=True, text=True)  # fmt: skip
        assert r.returncode == 0, r.stderr
        return DataDir.load(dst).validate()

    # a CHiME-2 Track 2 style condition digit, then stripped again to pair dirs
    c7 = copy(path, tmp_path / "c7", "--utt-suffix", "7")
    assert c7.utts == [u + "7" for u in d.utts]
    assert c7.text["spk01_u0017"] == d.text["spk01_u001"]
    back = copy(tmp_path / "c7", tmp_path / "back", "--strip-utt-suffix", "1")
    assert back.utts == d.utts and back.wav_scp == d.wav_scp
    with pytest.raises(DataDirError, match="same id"):
        d.map_utts(lambda u: u[:5])
