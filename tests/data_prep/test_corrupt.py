"""corrupt-data-dir: any clean data dir corrupted simgrid's way (the same code
simgrid uses): SNRs as asked, reverb aligned with the dry speech, deterministic
whatever --nj, measured RIR lists, segments and pipes in, clear errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from data_prep.corrupt import CorruptError, corrupt_data_dir
from pipeline.datadir import DataDir
from tests.conftest import make_datadir, write_wav


def _lag(y, x, max_lag=200):
    c = np.correlate(y[: len(x)], x, mode="full")[len(x) - 1 - max_lag: len(x) + max_lag]
    return int(np.argmax(c)) - max_lag


def _wav(path):
    return sf.read(path, dtype="float64")[0]


def _hashes(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Six utterances of broadband bursts: cross-correlation finds their lag
    unambiguously (harmonic test tones would alias to a pitch period)."""
    root = tmp_path_factory.mktemp("clean")
    d = make_datadir(root, n_spk=2, n_utt=3)
    rng = np.random.default_rng(0)
    for path in DataDir.load(d).wav_scp.values():
        n = len(_wav(path))
        env = np.abs(np.sin(np.linspace(0, 3 * np.pi, n)))
        sf.write(path, 0.1 * env * rng.standard_normal(n), 16000, subtype="PCM_16")
    return d


@pytest.fixture(scope="module")
def corrupted(clean, tmp_path_factory):
    out = tmp_path_factory.mktemp("corr") / "out"
    corrupt_data_dir(clean, out, n_rooms=2, per_snr_dirs=True, seed=3, progress=False)
    return out


def test_parallel_dirs_snr_and_alignment(clean, corrupted):
    names = ["clean", "reverb", "noisy"] + [f"noisy_{t}" for t in
                                            ("m6dB", "m3dB", "0dB", "3dB", "6dB", "9dB")]
    dirs = {n: DataDir.load(corrupted / n).validate() for n in names}
    src = DataDir.load(clean)
    for d in dirs.values():
        assert d.utts == src.utts and d.text == src.text
    assert set(dirs["noisy"].tables["utt2snr"].values()) <= {str(s) for s in
                                                             (-6, -3, 0, 3, 6, 9)}
    for u in src.utts:
        dry = _wav(dirs["clean"].wav_scp[u])
        rev = _wav(dirs["reverb"].wav_scp[u])
        assert len(dry) == len(rev) == len(_wav(src.wav_scp[u]))
        assert abs(_lag(rev, dry)) <= 1
        for tag, snr in (("m6dB", -6), ("0dB", 0), ("9dB", 9)):
            mix = _wav(dirs[f"noisy_{tag}"].wav_scp[u])
            measured = 10 * np.log10(np.sum(rev**2) / np.sum((mix - rev) ** 2))
            assert abs(measured - snr) < 0.5, (u, tag, measured)
            assert dirs[f"noisy_{tag}"].tables["utt2snr"][u] == str(snr)
        assert dirs["reverb"].tables["utt2cond"][u] == "reverb"
    info = json.loads((corrupted / "corrupt_info.json").read_text())
    assert len(info["utts"]) == len(src) and info["seed"] == 3


def test_deterministic_whatever_nj(clean, corrupted, tmp_path):
    out = tmp_path / "out"
    corrupt_data_dir(clean, out, n_rooms=2, per_snr_dirs=True, seed=3, nj=2,
                     progress=False)  # fmt: skip
    assert {k: v for k, v in _hashes(out / "wav").items()} == _hashes(corrupted / "wav")
    corrupt_data_dir(clean, out, n_rooms=2, seed=4, progress=False)  # rerun replaces
    assert _hashes(out / "wav") != _hashes(corrupted / "wav")
    assert not (out / "noisy_0dB").exists()


def test_measured_rir_list_round_trip(clean, tmp_path):
    """Measured RIRs (here: simulated ones written as wavs, with a propagation
    delay and a level a measurement would have) give aligned reverb."""
    from data_prep.simgrid import rooms

    room = rooms.sample_room(np.random.default_rng(0))
    lines = []
    for i, rir in enumerate(rooms.compute_rirs(room)):
        h = np.concatenate([np.zeros(37), 0.3 * rir.h])
        sf.write(tmp_path / f"rir{i}.wav", h, 16000, subtype="FLOAT")
        lines.append(f"rir{i}.wav {1 + i}")
    (tmp_path / "rirs.txt").write_text("# measured\n" + "\n".join(lines) + "\n")
    out = tmp_path / "out"
    corrupt_data_dir(clean, out, rir_list=tmp_path / "rirs.txt", noise_kinds=["stationary"],
                     snrs=[0], progress=False)  # fmt: skip
    d, c = DataDir.load(out / "reverb"), DataDir.load(out / "clean")
    for u in d.utts:
        dry, rev = _wav(c.wav_scp[u]), _wav(d.wav_scp[u])
        assert abs(_lag(rev, dry)) <= 1
        # direct path at unit gain: the reverb's projection on the dry speech ~1
        assert 0.6 < np.dot(rev, dry) / np.dot(dry, dry) < 1.6
    rooms_used = {u["room"] for u in json.loads((out / "corrupt_info.json").read_text())["utts"]}
    assert rooms_used <= {"rir0.wav", "rir1.wav"}


def test_segments_and_pipes_are_read(tmp_path):
    long = write_wav(tmp_path / "rec.wav", seconds=2.0)
    d = DataDir(wav_scp={"rec1": f"cat {long} |"}, text={"s1-a": "one two", "s1-b": "three"},
                utt2spk={"s1-a": "s1", "s1-b": "s1"},
                segments={"s1-a": "rec1 0.10 0.80", "s1-b": "rec1 1.00 1.90"})  # fmt: skip
    d.save(tmp_path / "clean")
    corrupt_data_dir(tmp_path / "clean", tmp_path / "out", n_rooms=1, snrs=[3],
                     noise_kinds=["transient"], progress=False)  # fmt: skip
    out = DataDir.load(tmp_path / "out/noisy")
    assert out.utts == ["s1-a", "s1-b"] and out._table("segments") is None
    assert len(_wav(out.wav_scp["s1-a"])) == 11200  # 0.7 s
    assert len(_wav(out.wav_scp["s1-b"])) == 14400


@pytest.mark.parametrize("case", ["stereo", "rate", "empty", "silent", "missing",
                                  "weight"])
def test_bad_rir_lists_name_the_file(clean, tmp_path, case):
    rir = tmp_path / "r.wav"
    h = np.zeros(800)
    h[10] = 1.0
    if case == "stereo":
        sf.write(rir, np.stack([h, h], 1), 16000)
    elif case == "rate":
        sf.write(rir, h, 8000)
    elif case == "silent":
        sf.write(rir, 0 * h, 16000)
    else:
        sf.write(rir, h, 16000)
    lst = tmp_path / "rirs.txt"
    lst.write_text({"empty": "# nothing\n", "missing": "nope.wav\n",
                    "weight": "r.wav heavy\n"}.get(case, "r.wav\n"))  # fmt: skip
    expect = {"stereo": "2 channels", "rate": "8000 Hz", "empty": "empty RIR list",
              "silent": "silent", "missing": "nope.wav", "weight": "rirs.txt:1"}[case]
    with pytest.raises(CorruptError, match=expect) as e:
        corrupt_data_dir(clean, tmp_path / "out", rir_list=lst, progress=False)
    assert str(lst if case in ("empty", "weight") else tmp_path) in str(e.value)
    assert not (tmp_path / "out").exists()


def test_cli_refuses_to_replace_a_foreign_dir(clean, tmp_path, capsys):
    from data_prep.__main__ import main

    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("x")
    assert main(["corrupt-data-dir", str(clean), str(keep), "--no-progress"]) == 1
    assert "not an output of corrupt-data-dir" in capsys.readouterr().err
    assert (keep / "notes.txt").read_text() == "x"
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SystemExit) as e:
        main(["corrupt-data-dir", str(clean), str(f)])
    assert e.value.code == 2
    assert main(["corrupt-data-dir", str(clean), str(tmp_path / "o"), "--nj", "0"]) == 2
