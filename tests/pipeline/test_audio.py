"""wav.scp entries: paths, pipes, channels, sample rates, segments."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from pipeline.audio import AudioError, read_audio
from tests.conftest import write_wav


def test_path_and_pipe_give_the_same_samples(tmp_path):
    wav = write_wav(tmp_path / "a.wav")
    x, sr = read_audio(str(wav))
    y, sr2 = read_audio(f"cat {wav} |")
    assert sr == sr2 == 16000 and np.array_equal(x, y)
    ref, _ = soundfile.read(wav, dtype="int16")
    assert np.array_equal(x * 32768, ref)  # exact 16-bit values survive


def test_failing_pipe_names_the_command(tmp_path):
    with pytest.raises(AudioError, match="(?s)exited 1.*nope"):
        read_audio(f"cat {tmp_path}/missing.wav || (echo nope >&2; exit 1) |")


def test_channel_choice(tmp_path):
    wav = write_wav(tmp_path / "st.wav", channels=2)
    data, _ = soundfile.read(wav, dtype="float32")
    assert np.array_equal(read_audio(str(wav))[0], data[:, 0])  # Kaldi default
    assert np.array_equal(read_audio(str(wav), channel=1)[0], data[:, 1])
    assert np.allclose(read_audio(str(wav), channel="mean")[0], data.mean(axis=1))
    with pytest.raises(AudioError, match="2 channel"):
        read_audio(str(wav), channel=2)


def test_sample_rate_mismatch_and_resample(tmp_path):
    wav = write_wav(tmp_path / "n.wav", sr=8000, seconds=0.5)
    with pytest.raises(AudioError, match=r"n\.wav has sample rate 8000 Hz, expected 16000"):  # noqa: E501
        read_audio(str(wav), sample_rate=16000)
    x, sr = read_audio(str(wav), sample_rate=16000, resample=True)
    assert sr == 16000 and abs(len(x) - 8000) <= 1


def test_segment(tmp_path):
    wav = write_wav(tmp_path / "r.wav", seconds=1.0)
    full, _ = read_audio(str(wav))
    seg, _ = read_audio(str(wav), start=0.25, end=0.5)
    assert np.array_equal(seg, full[4000:8000])
    with pytest.raises(AudioError, match="past the end"):
        read_audio(str(wav), start=0.5, end=2.0)
