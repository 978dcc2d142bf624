"""pipeline.features against kaldi-native-fbank (an independent C++ port of Kaldi).

Signals are synthesized here; every waveform is int16-valued so both sides see the
same samples. Tolerance 1e-3 absolute on natural-log mel energies and cepstra.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import features as F

knf = pytest.importorskip("kaldi_native_fbank")

TOL = 1e-3


def _knf_opts(cls, sr: int, num_bins: int = 40, **frame_kw):
    opts = cls()
    opts.frame_opts.samp_freq = sr
    opts.frame_opts.dither = 0.0  # knf's default is 3e-5, Kaldi's is 1.0
    opts.frame_opts.snip_edges = True
    for k, v in frame_kw.items():
        setattr(opts.frame_opts, k, v)
    opts.mel_opts.num_bins = num_bins  # knf's default is 23
    return opts


def _run_knf(extractor, wav: np.ndarray, sr: int) -> np.ndarray:
    extractor.accept_waveform(sr, wav.astype(np.float32))
    extractor.input_finished()
    n = extractor.num_frames_ready
    return np.array([extractor.get_frame(i) for i in range(n)]).reshape(
        n, extractor.dim
    )


def knf_fbank(wav: np.ndarray, sr: int = 16000, **frame_kw) -> np.ndarray:
    opts = _knf_opts(knf.FbankOptions, sr, **frame_kw)
    opts.use_energy = False
    return _run_knf(knf.OnlineFbank(opts), wav, sr)


def knf_mfcc(wav: np.ndarray, num_ceps: int, sr: int = 16000) -> np.ndarray:
    opts = _knf_opts(knf.MfccOptions, sr)
    opts.num_ceps = num_ceps
    opts.use_energy = False  # knf's MfccOptions default is True
    opts.cepstral_lifter = 22.0
    return _run_knf(knf.OnlineMfcc(opts), wav, sr)


def speech_like(n: int, sr: int = 16000, peak: float = 8000.0, noise: float = 20.0,
                seed: int = 0) -> np.ndarray:  # fmt: skip
    """(n,) int16: harmonics of a gliding f0, amplitude-modulated, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    f0 = 130 + 30 * np.sin(2 * np.pi * 1.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 30) if k * 160 < sr / 2)
    x = x * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t))
    x = peak * x / np.abs(x).max() + noise * rng.standard_normal(n)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def noise(n: int, std: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal(n) * std)
    return np.clip(x, -32768, 32767).astype(np.int16)


SIGNALS = {
    "noise": lambda n: noise(n, 3000.0),
    "speech": lambda n: speech_like(n),
    "quiet": lambda n: noise(n, 3.0) + speech_like(n, peak=20, noise=0),
    # near full scale; some noise so every mel band sits within ~100 dB of the peak
    # (float32 FFT round-off, in knf as here, is ~1e-7 of the frame energy)
    "loud": lambda n: speech_like(n, peak=32000, noise=60),
    "dc_offset": lambda n: noise(n, 200.0) + np.int16(6000),
}


@pytest.mark.parametrize("name", sorted(SIGNALS))
@pytest.mark.parametrize("snip_edges", [True, False])
def test_fbank_matches_knf(name, snip_edges):
    wav = SIGNALS[name](16000)
    ours = F.compute_fbank(wav, 16000, snip_edges=snip_edges)
    ref = knf_fbank(wav, snip_edges=snip_edges)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)


@pytest.mark.parametrize("n", [399, 400, 401, 559, 560, 561, 1234, 4567, 12345])
def test_fbank_lengths_match_knf(n):
    wav = speech_like(n, seed=n)
    ours = F.compute_fbank(wav, 16000)
    ref = knf_fbank(wav)
    assert ours.shape == ref.shape == (F.num_frames(n), 40)
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)


def test_fbank_random_lengths_and_unsnipped():
    rng = np.random.default_rng(7)
    for n in rng.integers(100, 9000, size=6):
        wav = noise(int(n), 1000.0, seed=int(n)) + speech_like(int(n), peak=3000)
        for snip in (True, False):
            ref = knf_fbank(wav, snip_edges=snip)
            ours = F.compute_fbank(wav, 16000, snip_edges=snip)
            assert ours.shape == ref.shape
            np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)


def test_fbank_8khz():
    wav = speech_like(8000 * 2, sr=8000)
    ours = F.compute_fbank(wav, 8000, sample_rate=8000)
    ref = knf_fbank(wav, sr=8000)
    assert ours.shape == ref.shape == (198, 40)
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)


@pytest.mark.parametrize("window", ["hamming", "hanning", "rectangular", "blackman"])
def test_fbank_windows_match_knf(window):
    wav = speech_like(8000) + noise(8000, 100.0)
    ours = F.compute_fbank(wav, 16000, window_type=window)
    ref = knf_fbank(wav, window_type=window)
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)


def test_mel_banks_match_knf():
    opts = knf.MelBanksOptions()
    opts.num_bins = 40
    frame = knf.FrameExtractionOptions()
    ref = np.array(knf.MelBanks(opts, frame, 1.0).get_matrix())  # (40, 257)
    ours = F.mel_banks()
    assert ours.shape == (257, 40)
    np.testing.assert_allclose(ours.T, ref, atol=1e-5)
    assert not ours[256].any()  # Kaldi leaves the Nyquist bin out


@pytest.mark.parametrize("num_ceps", [13, 40])
@pytest.mark.parametrize("name", ["speech", "noise", "quiet"])
def test_mfcc_matches_knf(name, num_ceps):
    wav = SIGNALS[name](12000)
    ours = F.compute_mfcc(wav, 16000, num_ceps=num_ceps)
    ref = knf_mfcc(wav, num_ceps)
    assert ours.shape == ref.shape == (73, num_ceps)
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)


def test_mfcc_is_dct_of_fbank_and_kinds():
    wav = speech_like(9000)
    fb = F.compute_features(wav, 16000, "fbank")
    np.testing.assert_array_equal(F.compute_mfcc(wav, 16000), F.fbank_to_mfcc(fb))
    for kind, dim in [("fbank", 40), ("mfcc", 13), ("mfcc_hires", 40)]:
        assert F.feature_dim(kind) == dim
        assert F.compute_features(wav, 16000, kind).shape == (fb.shape[0], dim)
    np.testing.assert_array_equal(
        F.compute_features(wav, 16000, "mfcc_hires"), F.fbank_to_mfcc(fb, 40)
    )
    with pytest.raises(ValueError, match="unknown feature kind"):
        F.compute_features(wav, 16000, "plp")


def test_dct_matrix_is_orthonormal_kaldi():
    d = F.dct_matrix(40, 40)
    np.testing.assert_allclose(d @ d.T, np.eye(40), atol=1e-12)
    np.testing.assert_allclose(d[0], np.full(40, np.sqrt(1 / 40)))
    # unliftered, 40 ceps of 40 bins: the DCT is invertible
    fb = F.compute_fbank(speech_like(4000), 16000)
    ceps = F.fbank_to_mfcc(fb, 40, cepstral_lifter=0)
    np.testing.assert_allclose(ceps @ d, fb, atol=1e-4)


def test_float_and_int16_inputs_agree():
    wav = speech_like(8000)
    from_int = F.compute_fbank(wav, 16000)
    from_float = F.compute_fbank(wav.astype(np.float64) / 32768.0, 16000)
    from_f32 = F.compute_fbank(wav.astype(np.float32) / 32768.0, 16000)
    np.testing.assert_allclose(from_float, from_int, atol=1e-5)
    np.testing.assert_allclose(from_f32, from_int, atol=1e-4)
    torch = pytest.importorskip("torch")
    from_torch = F.compute_fbank(torch.from_numpy(wav.astype(np.float32) / 32768.0),
                                 16000)  # fmt: skip
    np.testing.assert_allclose(from_torch, from_int, atol=1e-4)
    # a float signal is *not* taken as sample values: it is 90 dB louder than
    # the same numbers given as int16-range floats would be
    as_floats = F.compute_fbank(wav.astype(np.float64), 16000)
    assert as_floats.mean() > from_int.mean() + 15


def test_sample_rate_mismatch_and_bad_input():
    wav = speech_like(8000)
    with pytest.raises(ValueError, match="8000 Hz != feature sample_rate 16000"):
        F.compute_fbank(wav, 8000)
    with pytest.raises(ValueError, match="1-D"):
        F.compute_fbank(np.stack([wav, wav]), 16000)
    with pytest.raises(ValueError, match="unknown fbank option"):
        F.compute_fbank(wav, 16000, num_mel=23)
    with pytest.raises(ValueError, match="window_type"):
        F.compute_fbank(wav, 16000, window_type="kaiser")


@pytest.mark.parametrize("kind,dim", [("fbank", 40), ("mfcc", 13), ("mfcc_hires", 40)])
def test_short_input_gives_empty(kind, dim):
    for n in (0, 1, 399):
        out = F.compute_features(np.zeros(n, np.int16), 16000, kind)
        assert out.shape == (0, dim) and out.dtype == np.float32
    assert F.compute_log_spectrogram(np.zeros(10, np.int16), 16000).shape == (0, 257)


def test_silence_is_floored_like_knf():
    wav = np.zeros(4000, np.int16)
    ours = F.compute_fbank(wav, 16000)
    np.testing.assert_allclose(ours, knf_fbank(wav), atol=TOL)
    np.testing.assert_allclose(ours, np.log(np.finfo(np.float32).eps))


def test_batch_equals_per_utterance():
    wavs = [speech_like(n, seed=n) for n in (300, 400, 4000, 16000, 561, 7000)]
    batch = F.compute_fbank_batch(wavs, 16000, max_frames=60)
    assert len(batch) == len(wavs)
    for w, b in zip(wavs, batch):
        np.testing.assert_allclose(b, F.compute_fbank(w, 16000), atol=1e-5)


def test_dither_is_seeded_and_small():
    wav = speech_like(8000)
    a = F.compute_fbank(wav, 16000, dither=1.0, rng=3)
    b = F.compute_fbank(wav, 16000, dither=1.0, rng=np.random.default_rng(3))
    c = F.compute_fbank(wav, 16000, dither=1.0, rng=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    clean = F.compute_fbank(wav, 16000)
    assert np.abs(a - clean).mean() < 0.01 and np.abs(a - clean).max() < 1.0
    # dither lifts digital silence off the log floor, as in Kaldi
    silent = F.compute_fbank(np.zeros(4000, np.int16), 16000, dither=1.0)
    assert silent.min() > np.log(np.finfo(np.float32).eps) + 5


def test_energy_column_matches_knf():
    wav = speech_like(8000)
    opts = _knf_opts(knf.FbankOptions, 16000)
    opts.use_energy = True
    ref = _run_knf(knf.OnlineFbank(opts), wav, 16000)
    ours = F.compute_fbank(wav, 16000, use_energy=True)
    assert ours.shape == ref.shape == (48, 41)
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)


def test_log_spectrogram_kaldi_semantics():
    wav = speech_like(6000)
    spec = F.compute_log_spectrogram(wav, 16000)
    assert spec.shape == (F.num_frames(6000), 257) and spec.dtype == np.float32
    # direct float64 reference of feature-spectrogram.cc for frame 5
    x = wav[5 * 160:5 * 160 + 400].astype(np.float64)
    x -= x.mean()
    log_energy = np.log(np.sum(x * x))
    x[1:] -= 0.97 * x[:-1].copy()
    x[0] *= 1 - 0.97
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 399)) ** 0.85
    power = np.abs(np.fft.rfft(x * win, 512)) ** 2
    np.testing.assert_allclose(spec[5, 1:], np.log(power[1:]), atol=TOL)
    np.testing.assert_allclose(spec[5, 0], log_energy, atol=TOL)


def test_cmvn_stats_and_apply():
    rng = np.random.default_rng(0)
    feats = (rng.standard_normal((120, 5)) * [1, 2, 3, 4, 5] + [10, -3, 0, 7, 1])
    feats = feats.astype(np.float32)
    stats = F.cmvn_stats(feats)
    f64 = feats.astype(np.float64)
    assert stats.shape == (2, 6) and stats.dtype == np.float64
    np.testing.assert_allclose(stats[0, :5], f64.sum(0))
    np.testing.assert_allclose(stats[1, :5], (f64**2).sum(0))
    assert stats[0, 5] == 120 and stats[1, 5] == 0

    split = F.add_cmvn_stats(F.cmvn_stats(feats[:50]), F.cmvn_stats(feats[50:]))
    np.testing.assert_allclose(split, stats)

    mean_norm = F.apply_cmvn(feats, stats)
    assert mean_norm.dtype == np.float32
    np.testing.assert_allclose(mean_norm.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(mean_norm.std(0), feats.std(0), rtol=1e-5)
    var_norm = F.apply_cmvn(feats, stats, norm_vars=True)
    np.testing.assert_allclose(var_norm.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(var_norm.std(0), 1, atol=1e-5)

    # a constant dimension hits Kaldi's 1e-20 variance floor instead of dividing by 0
    const = np.ones((10, 2), np.float32)
    assert np.isfinite(F.apply_cmvn(const, F.cmvn_stats(const), norm_vars=True)).all()
    with pytest.raises(ValueError, match="insufficient"):
        F.apply_cmvn(feats, np.zeros((2, 6)))
    with pytest.raises(ValueError, match="do not fit"):
        F.apply_cmvn(feats, np.zeros((2, 4)))


@pytest.mark.parametrize(
    "ours_kw,frame_kw,fbank_kw",
    [
        ({"remove_dc_offset": False}, {"remove_dc_offset": False}, {}),
        ({"preemph_coeff": 0.0}, {"preemph_coeff": 0.0}, {}),
        ({"preemph_coeff": 0.0, "snip_edges": False},
         {"preemph_coeff": 0.0, "snip_edges": False}, {}),  # fmt: skip
        ({"use_power": False}, {}, {"use_power": False}),
        ({"round_to_power_of_two": False}, {"round_to_power_of_two": False}, {}),
        ({"frame_length_ms": 32, "frame_shift_ms": 12.5},
         {"frame_length_ms": 32, "frame_shift_ms": 12.5}, {}),  # fmt: skip
    ],
)
def test_fbank_options_match_knf(ours_kw, frame_kw, fbank_kw):
    wav = speech_like(7000) + noise(7000, 300.0)
    opts = _knf_opts(knf.FbankOptions, 16000, **frame_kw)
    for k, v in fbank_kw.items():
        setattr(opts, k, v)
    ref = _run_knf(knf.OnlineFbank(opts), wav, 16000)
    ours = F.compute_fbank(wav, 16000, **ours_kw)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)


def test_mel_range_options_match_knf():
    wav = speech_like(7000) + noise(7000, 300.0)
    opts = _knf_opts(knf.FbankOptions, 16000, num_bins=23)
    opts.mel_opts.low_freq, opts.mel_opts.high_freq = 64.0, -400.0
    ref = _run_knf(knf.OnlineFbank(opts), wav, 16000)
    ours = F.compute_fbank(wav, 16000, num_mel_bins=23, low_freq=64, high_freq=-400)
    np.testing.assert_allclose(ours, ref, atol=TOL, rtol=0)
