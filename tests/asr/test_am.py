"""The acoustic model trains (loss falls), resumes, and decodes every utterance."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from pipeline.asr.data import Tokens, default_suffixes, training_entries
from pipeline.datadir import DataDirError
from tests.asr.conftest import tiny_config

torch = pytest.importorskip("torch")
pytest.importorskip("speechbrain")


def _log_epochs(exp):
    lines = (exp / "train_log.txt").read_text().splitlines()
    return [(int(re.search(r"epoch: (\d+)", ln).group(1)),
             float(re.search(r"train loss: ([\d.e+-]+)", ln).group(1))) for ln in lines]  # fmt: skip


def test_tokens_roundtrip(tmp_path):
    t = Tokens.from_texts(["bin blue", "lay red"], "char")
    assert t.units[0] == "<blank>" and t.decode(t.encode("bin  blue")) == "bin blue"
    t.save(tmp_path / "tokens.txt")
    assert Tokens.load(tmp_path / "tokens.txt").units == t.units
    w = Tokens.from_texts(["bin blue", "lay red"], "word")
    assert w.decode(w.encode("lay blue")) == "lay blue" and len(w) == 5


def test_mct_ids_made_unique(feats_dirs):
    dirs = [feats_dirs["train_clean"], feats_dirs["train_noisy"]]
    assert default_suffixes(dirs) == ["-clean", "-noisy"]
    entries, stats, combined = training_entries(dirs)
    assert len(entries) == 120 and len(combined) == 120
    assert "spk0_000-clean" in entries and "spk0_000-noisy" in entries
    # per-speaker CMVN stays per source dir
    assert entries["spk0_000-clean"]["cmvn_key"] != entries["spk0_000-noisy"]["cmvn_key"]


def test_train_resume_decode(tmp_path, feats_dirs, monkeypatch):
    from pipeline.asr.decode import decode
    from pipeline.asr.train import train_am

    torch.set_num_threads(1)
    exp = tmp_path / "exp" / "mct"
    train = [feats_dirs["train_clean"], feats_dirs["train_noisy"]]
    # "interrupted" after 2 of 4 epochs, then the same command resumes
    train_am(tiny_config(tmp_path, epochs=2), train, feats_dirs["dev"], exp, seed=1)
    assert [e for e, _ in _log_epochs(exp)] == [1, 2]
    train_am(tiny_config(tmp_path, epochs=4), train, feats_dirs["dev"], exp, seed=1)
    log = _log_epochs(exp)
    assert [e for e, _ in log] == [1, 2, 3, 4]  # resumed at 3, not restarted
    assert log[-1][1] < 0.7 * log[0][1]  # the loss falls
    meta = json.loads((exp / "am.json").read_text())
    assert meta["n_train_utts"] == 120 and meta["cmvn"] == "speaker"
    from pipeline.config import resolve_precision  # am_quick.yaml: precision auto

    assert meta["precision"] == resolve_precision("auto") in ("bf16", "fp32")

    out = tmp_path / "exp" / "mct" / "decode_none_dev_clean"
    c = decode(exp, feats_dirs["dev"], out, beam=1)
    hyp = (out / "hyp").read_text().splitlines()
    ref = (out / "ref").read_text().splitlines()
    assert [h.split()[0] for h in hyp] == [r.split()[0] for r in ref] and len(hyp) == 8
    assert re.fullmatch(r"%WER \d+\.\d\d \[ \d+ / 48, \d+ ins, \d+ del, \d+ sub \]\n",
                        (out / "wer").read_text())  # fmt: skip
    assert json.loads((out / "decode.json").read_text())["frontend"] == "none"
    # beam search + snap and the constrained GRID search also write every utterance
    out2 = tmp_path / "exp" / "mct" / "decode_none_dev_beam"
    c2 = decode(exp, feats_dirs["dev"], out2, beam=4, grammar="grid-snap")
    assert len((out2 / "hyp").read_text().splitlines()) == 8
    assert c2["n_words"] == c["n_words"] == 48
    out3 = tmp_path / "exp" / "mct" / "decode_none_dev_grid"
    decode(exp, feats_dirs["dev"], out3, grammar="grid")
    hyps = [ln.split()[1:] for ln in (out3 / "hyp").read_text().splitlines()]
    assert len(hyps) == 8 and all(len(h) == 6 for h in hyps)  # full sentences
    assert json.loads((out3 / "decode.json").read_text())["search"] == "grid-viterbi"
    # ... with the slot posteriors of every utterance (each slot sums to 1), whose
    # per-slot decision is what --grammar grid-mbr writes
    from pipeline.asr.combine import read_slot_posteriors, slot_decision
    from pipeline.grid import SLOTS

    post = read_slot_posteriors(out3)
    assert sorted(post) == sorted(ln.split()[0] for ln in ref)
    bounds = np.cumsum([0] + [len(s) for s in SLOTS])
    for v in post.values():
        np.testing.assert_allclose([v[a:b].sum() for a, b in zip(bounds, bounds[1:])], 1,
                                   atol=1e-5)  # fmt: skip
    out4 = tmp_path / "exp" / "mct" / "decode_none_dev_mbr"
    decode(exp, feats_dirs["dev"], out4, grammar="grid-mbr")
    mbr = dict(ln.split(maxsplit=1) for ln in (out4 / "hyp").read_text().splitlines())
    assert mbr == {u: " ".join(slot_decision(v)) for u, v in post.items()}
    assert json.loads((out4 / "decode.json").read_text())["search"] == "grid-mbr"
    _check_phases(tmp_path, exp, feats_dirs["dev"], post, monkeypatch)


def _check_phases(tmp_path, exp, dev, post1, monkeypatch):
    """decode --phases: the slot posteriors are the mean over the shifted inputs'
    (computed here one utterance at a time), the words their per-slot best."""
    from pipeline.asr.combine import read_slot_posteriors, slot_decision, slot_vector
    from pipeline.asr.data import iter_features
    from pipeline.asr.decode import (LoadedAM, decode, decode_is_complete, phase_offsets,
                                     resolve_am_precision)
    from pipeline.asr.grammar import GridMBRSearch

    assert phase_offsets(6, 3) == [0, 2, 4] and phase_offsets(3, 3) == [0, 1, 2]
    assert phase_offsets(6, 2) == [0, 3] and phase_offsets(4, 1) == [0]
    for bad in (0, 4):
        with pytest.raises(ValueError, match="phases"):
            phase_offsets(3, bad)
    out = tmp_path / "exp" / "mct" / "decode_none_dev_phases"
    decode(exp, dev, out, grammar="grid", phases=3)
    am = LoadedAM(exp)
    assert am.stride == 3 and am.precision == "fp32"
    mbr = GridMBRSearch(am.tokens.units)
    want = {}
    for u, f in iter_features(dev, am.meta["cmvn"], am.meta["norm_vars"], am.global_cmvn):
        vs = []
        for off in (0, 1, 2):
            lp, lens = am.log_probs([f[off:]])
            vs.append(slot_vector(mbr.slot_posteriors(lp, lens)[0], mbr.slot_words))
        want[u] = np.mean(vs, axis=0)
    got = read_slot_posteriors(out)
    assert sorted(got) == sorted(want)
    for u in want:
        np.testing.assert_allclose(got[u], want[u], atol=1e-4)
    assert any(np.abs(got[u] - post1[u]).max() > 1e-3 for u in got)  # not phase 0 only
    hyps = dict(ln.split(maxsplit=1) for ln in (out / "hyp").read_text().splitlines())
    assert hyps == {u: " ".join(slot_decision(v)) for u, v in got.items()}
    meta = json.loads((out / "decode.json").read_text())
    assert (meta["search"], meta["phases"], meta["am_precision"]) == (
        "grid-mbr-3phases", 3, "fp32")
    assert decode_is_complete(exp, dev, out, grammar="grid", phases=3)
    assert not decode_is_complete(exp, dev, out, grammar="grid", phases=2)
    assert not decode_is_complete(exp, dev, out, grammar="grid", phases=3, am_precision="bf16")
    with pytest.raises(ValueError, match="GRID-constrained"):
        decode(exp, dev, tmp_path / "x", phases=2)
    # --am-precision auto: bf16 only for an AM trained in bf16, where bf16 is fast
    assert resolve_am_precision("auto", {"precision": "fp32"}) == "fp32"
    assert resolve_am_precision("bf16", {"precision": "fp32"}) == "bf16"
    for fast in ("bf16", "fp32"):
        monkeypatch.setattr("pipeline.config.resolve_precision", lambda p, d="cpu": fast)
        assert resolve_am_precision("auto", {"precision": "bf16"}) == fast
    monkeypatch.undo()
    # bf16 autocast: the same words as fp32 for (nearly) every utterance
    out16 = tmp_path / "exp" / "mct" / "decode_none_dev_phases16"
    decode(exp, dev, out16, grammar="grid", phases=3, am_precision="bf16")
    assert json.loads((out16 / "decode.json").read_text())["am_precision"] == "bf16"
    h16 = dict(ln.split(maxsplit=1) for ln in (out16 / "hyp").read_text().splitlines())
    assert sum(h16[u] == hyps[u] for u in hyps) >= len(hyps) - 1


def test_cli_train_am_and_decode(tmp_path, feats_dirs):
    from pipeline.__main__ import main

    exp = tmp_path / "clean"
    assert main(["train-am", "--config", str(tiny_config(tmp_path, epochs=1, cmvn="global", token_type="char")),
                 "--train", str(feats_dirs["train_clean"]), "--dev",
                 str(feats_dirs["dev"]), "--out", str(exp)]) == 0  # fmt: skip
    assert (exp / "cmvn_global.ark").is_file()
    out = tmp_path / "clean" / "decode_none_dev"
    assert main(["decode", "--am", str(exp), str(feats_dirs["dev"]), str(out)]) == 0
    assert len((out / "hyp").read_text().splitlines()) == 8
    with pytest.raises(SystemExit) as e:
        main(["decode", "--am", str(exp)])
    assert e.value.code == 2
    # --phases: GRID searches only, at most the AM's stride (am_quick: 3)
    assert main(["decode", "--am", str(exp), "--phases", "2", str(feats_dirs["dev"]),
                 str(tmp_path / "p2")]) == 2  # fmt: skip
    assert main(["decode", "--am", str(exp), "--phases", "4", "--grammar", "grid",
                 str(feats_dirs["dev"]), str(tmp_path / "p4")]) == 2  # fmt: skip
    assert not (tmp_path / "p2").exists() and not (tmp_path / "p4" / "hyp").exists()


def test_spec_augment_freq_warp_stretches_the_mel_axis():
    import torch

    from pipeline.asr.model import SpecAugment

    ramp = torch.arange(40.0).expand(3, 5, 40).clone()  # x[..., d] = d
    lengths = torch.full((3,), 5)
    off = SpecAugment(n_freq=0, n_time=0, freq_warp=0.0)
    assert torch.equal(off(ramp, lengths), ramp)
    torch.manual_seed(0)
    out = SpecAugment(n_freq=0, n_time=0, freq_warp=0.2)(ramp, lengths)
    for b in range(3):
        a = out[b, 0, 1].item()  # the stretch factor of utterance b
        assert 0.8 <= a <= 1.2
        expect = (torch.arange(40.0) * a).clamp(max=39)
        assert torch.allclose(out[b], expect.expand(5, 40), atol=1e-5)


def _spy(monkeypatch, name: str, calls: list) -> None:
    """Record the last argument of each call of ``pipeline.asr.model.<name>``
    (the stretch factor, the phase offset), then call it."""
    import pipeline.asr.model as M

    real = getattr(M, name)

    def spy(x, n, arg):
        calls.append(arg)
        return real(x, n, arg)

    monkeypatch.setattr(M, name, spy)


@pytest.mark.parametrize("factor", [0.9, 1.13])
def test_stretch_time_interpolates_each_utterance_within_its_own_frames(factor):
    """Feature-domain speed perturbation: each utterance of a padded batch
    resampled by linear interpolation (np.interp per feature, an independent
    computation) at the batch's positions, never reading the padding."""
    from pipeline.asr.model import stretch_time

    rng = np.random.default_rng(0)
    T, D, lens = 40, 3, [40, 23]
    x = torch.full((2, T, D), 1e6)  # padding: would show in any output it leaked into
    for b, n in enumerate(lens):
        x[b, :n] = torch.from_numpy(rng.standard_normal((n, D)).astype(np.float32))
    y, new = stretch_time(x, torch.tensor(lens), factor)
    T2 = round(T * factor)
    assert y.shape == (2, T2, D)
    pos = np.arange(T2) * (T - 1) / (T2 - 1)  # where output frame t reads the input
    for b, n in enumerate(lens):
        m = int(new[b])
        assert m == int(np.sum(pos <= n - 1)) and abs(m - n * factor) <= 1.5
        ref = np.stack([np.interp(pos[:m], np.arange(n), x[b, :n, d].numpy())
                        for d in range(D)], axis=1)  # fmt: skip
        np.testing.assert_allclose(y[b, :m].numpy(), ref, rtol=1e-5, atol=1e-5)
    y1, n1 = stretch_time(x, torch.tensor(lens), 1.0)  # factor 1: unchanged
    assert torch.allclose(y1, x) and n1.tolist() == lens


def test_shift_phase_drops_the_first_frames():
    from pipeline.asr.model import shift_phase

    x = torch.arange(20.0).reshape(1, 10, 2).expand(2, 10, 2)
    y, n = shift_phase(x, torch.tensor([10, 6]), 3)
    assert torch.equal(y, x[:, 3:]) and n.tolist() == [7, 3]
    assert shift_phase(x, torch.tensor([10, 6]), 0)[0] is x


def test_train_am_time_augmentation_draws_per_batch(tmp_path, feats_dirs, monkeypatch):
    """speed_perturb / random_phase: every training batch (not the dev pass) is
    stretched by a factor in [1 - x, 1 + x] and starts at a random phase in
    [0, stride); training still learns; an out-of-range value is refused."""
    from pipeline.asr.train import train_am
    from pipeline.config import ConfigError

    seen = {"factor": [], "offset": []}
    _spy(monkeypatch, "stretch_time", seen["factor"])
    _spy(monkeypatch, "shift_phase", seen["offset"])
    torch.set_num_threads(1)
    conf = tiny_config(tmp_path, epochs=3)
    conf.write_text(conf.read_text() + "speed_perturb: 0.1\nrandom_phase: true\n")
    exp = tmp_path / "am"
    train_am(conf, [feats_dirs["train_clean"]], feats_dirs["dev"], exp, seed=1)
    log = _log_epochs(exp)
    assert log[-1][1] < 0.8 * log[0][1]  # the loss falls
    stride = int(re.search(r"^stride: (\d+)", conf.read_text(), re.M).group(1))
    assert len(seen["factor"]) == len(seen["offset"]) >= 3  # training batches only
    assert all(0.9 <= f <= 1.1 for f in seen["factor"]) and len(set(seen["factor"])) > 1
    assert set(seen["offset"]) <= set(range(stride)) and len(set(seen["offset"])) > 1
    conf.write_text(conf.read_text().replace("perturb: 0.1", "perturb: 1.5"))
    with pytest.raises(ConfigError, match="speed_perturb"):
        train_am(conf, [feats_dirs["train_clean"]], feats_dirs["dev"],
                 tmp_path / "bad", seed=1)  # fmt: skip


def test_undecodable_utterance_gets_an_empty_line(tmp_path, feats_dirs):
    # an utterance with a transcript but no features (e.g. make-feats skipped an
    # unreadable wav) is written as an empty hypothesis, and its words count as
    # deletions: the WER is not computed over the decodable utterances only
    import shutil

    from pipeline.asr.decode import decode
    from pipeline.asr.train import train_am

    torch.set_num_threads(1)
    exp = train_am(tiny_config(tmp_path, epochs=1), [feats_dirs["train_clean"]],
                   feats_dirs["dev"], tmp_path / "am")  # fmt: skip
    dev = tmp_path / "dev_one_missing"
    shutil.copytree(feats_dirs["dev"], dev)
    lines = (dev / "feats.scp").read_text().splitlines()
    gone = lines[3].split()[0]
    (dev / "feats.scp").write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    out = tmp_path / "decode_none_dev"
    c = decode(exp, dev, out)
    hyp = dict(ln.split(" ", 1) if " " in ln else (ln, "")
               for ln in (out / "hyp").read_text().splitlines())  # fmt: skip
    ref = (out / "ref").read_text().splitlines()
    assert list(hyp) == [r.split()[0] for r in ref] and len(hyp) == 8
    assert hyp[gone] == ""
    assert json.loads((out / "decode.json").read_text())["n_missing"] == 1
    assert c["n_words"] == 48 and c["dels"] >= 6  # the 6 words of `gone` at least


def test_early_stopping_counter_is_fed_the_dev_wer(tmp_path, feats_dirs):
    """An ``EpochCounterWithStopper`` epoch counter stops training when the dev WER
    has not improved for ``limit_to_stop`` epochs: train-am feeds it each epoch's
    dev WER (patience 0 after a 1-epoch warm-up: exactly 2 of at most 10 epochs),
    and the stop survives a rerun (the model is done)."""
    from pipeline.asr.train import train_am

    torch.set_num_threads(1)
    conf = tiny_config(tmp_path, epochs=10)
    text = conf.read_text().replace(
        "epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounter\n"
        "    limit: !ref <number_of_epochs>",
        "epoch_counter: !new:speechbrain.utils.epoch_loop.EpochCounterWithStopper\n"
        "    limit: !ref <number_of_epochs>\n    limit_to_stop: 0\n"
        "    limit_warmup: 1\n    direction: min")
    assert "EpochCounterWithStopper" in text
    conf.write_text(text)
    exp = tmp_path / "am"
    train_am(conf, [feats_dirs["train_clean"]], feats_dirs["dev"], exp, seed=1)
    assert [e for e, _ in _log_epochs(exp)] == [1, 2]
    assert (exp / "train.done").is_file()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_birnn_equals_packed_nn_rnn_and_loads_its_checkpoints(cell):
    """The padded BiRNN computes what nn.GRU / nn.LSTM(bidirectional) computes on a
    packed batch (outputs at valid steps and every gradient), and loads its
    state_dict."""
    from pipeline.asr.model import BiRNN, flip_padded

    torch.manual_seed(0)
    ref = BiRNN.CELLS[cell](6, 5, num_layers=2, batch_first=True, bidirectional=True)
    ours = BiRNN(6, 5, 2, cell=cell)
    ours.load_state_dict(ref.state_dict())  # the old checkpoint names
    x = torch.randn(4, 9, 6)
    lens = torch.tensor([9, 3, 7, 1])
    valid = (torch.arange(9)[None, :] < lens[:, None])[:, :, None]
    xr = x.clone().requires_grad_(True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(xr, lens, batch_first=True,
                                                     enforce_sorted=False)  # fmt: skip
    a, _ = torch.nn.utils.rnn.pad_packed_sequence(ref(packed)[0], batch_first=True,
                                                  total_length=9)  # fmt: skip
    xo = x.clone().requires_grad_(True)
    # garbage in the padding must not reach valid outputs
    b = ours(torch.where(valid, xo, torch.full_like(xo, 1e3)), lens)
    assert torch.allclose(a * valid, b * valid, atol=1e-6)
    w = torch.randn(4, 9, 10)
    (a * valid * w).sum().backward()
    (b * valid * w).sum().backward()
    assert torch.allclose(xr.grad, xo.grad, atol=1e-6)
    for k in range(2):
        for sfx, mod in (("", ours.fwd[k]), ("_reverse", ours.bwd[k])):
            g_ref = getattr(ref, f"weight_hh_l{k}{sfx}").grad
            assert torch.allclose(g_ref, mod.weight_hh_l0.grad, atol=1e-6)
    y = torch.arange(12.0).reshape(2, 3, 2)
    assert flip_padded(flip_padded(y, torch.tensor([3, 2])), torch.tensor([3, 2])).equal(y)
    assert flip_padded(y, torch.tensor([3, 2]))[1, :, 0].tolist() == [8.0, 6.0, 10.0]


def test_features_cached_after_first_read_when_they_fit(feats_dirs, monkeypatch):
    import pipeline.asr.train as tr

    entries, stats, _ = training_entries([feats_dirs["train_clean"]])
    tokens = Tokens.from_texts([e["text"] for e in entries.values()], "word")
    reads = []
    real = tr.kaldiio.load_mat
    monkeypatch.setattr(tr.kaldiio, "load_mat", lambda a: reads.append(a) or real(a))
    dim = real(next(iter(entries.values()))["ark"]).shape[1]
    for cache_mb, rereads in ((1024, 0), (1e-4, len(entries))):  # fits / does not
        fits = tr.fits_in_memory(entries, dim, cache_mb)
        assert fits == (rereads == 0)
        ds = tr.make_dataset(entries, stats, tokens, "speaker", True, cache=fits)
        first = [ds[i]["feats"].clone() for i in range(len(ds))]
        reads.clear()
        again = [ds[i]["feats"] for i in range(len(ds))]
        assert len(reads) == rereads
        assert all(a.equal(b) for a, b in zip(first, again))


def test_resolve_precision(monkeypatch):
    """auto: bf16 exactly when the CPU has avx512_bf16 or AMX; others unchanged."""
    from pipeline.config import resolve_precision

    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    for bf16, amx, want in ((True, False, "bf16"), (False, True, "bf16"),
                            (False, False, "fp32")):  # fmt: skip
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert resolve_precision("auto", "cpu") == want


def test_fused_optimizer_same_steps_as_the_default():
    """train-am and the front-end trainers step fused Adam/AdamW/SGD kernels: the
    same updates as the default (foreach) path to float rounding; a config's own
    ``fused`` and optimizers without a fused kernel are left as they are."""
    import functools

    from pipeline.config import fused_optimizer

    conf = functools.partial(torch.optim.AdamW, lr=0.01, weight_decay=0.01)
    assert fused_optimizer(conf).keywords == {**conf.keywords, "fused": True}
    own = functools.partial(torch.optim.AdamW, lr=0.01, fused=False)
    assert fused_optimizer(own) is own
    assert fused_optimizer(torch.optim.RMSprop) is torch.optim.RMSprop
    assert fused_optimizer(conf, "meta") is conf
    for make, kw in ((conf, {}), (torch.optim.Adam, {"lr": 0.01, "betas": (0.5, 0.999)}),
                     (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9})):  # fmt: skip
        torch.manual_seed(0)
        a = torch.nn.Linear(16, 8)
        b = torch.nn.Linear(16, 8)
        b.load_state_dict(a.state_dict())
        w0 = a.weight.detach().clone()
        oa, ob = make(a.parameters(), **kw), fused_optimizer(make)(b.parameters(), **kw)
        assert ob.defaults["fused"] and not oa.defaults.get("fused")
        for _ in range(5):
            x = torch.randn(4, 16)
            for m, o in ((a, oa), (b, ob)):
                o.zero_grad()
                m(x).pow(2).sum().backward()
                o.step()
        assert (a.weight - w0).abs().max() > 1e-3  # they did step
        for pa, pb in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


def test_pasted_am_decodes_through_its_front_end_on_the_fly(tmp_path, feats_dirs):
    """An AM trained on paste-feats output (enhanced + unprocessed, 80-d) decodes
    raw features through ``--frontend`` exactly as it decodes the pasted dir; raw
    40-d features without the front-end are a clear error naming paste-feats;
    ``frontend_precision`` bf16 decodes as the bf16-enhanced pasted dir does."""
    from pipeline.asr.decode import decode, decode_is_complete
    from pipeline.asr.train import train_am
    from pipeline.enhance import FeatureEnhancer
    from pipeline.enhance.train import train_enhancer
    from pipeline.make_feats import paste_feats
    from tests.enhance.conftest import DNN_CONF

    torch.set_num_threads(1)
    tc, dev = feats_dirs["train_clean"], feats_dirs["dev"]
    fe = tmp_path / "fe"
    conf = dict(DNN_CONF, training=dict(DNN_CONF["training"], epochs=1))
    train_enhancer(conf, [tc], [tc], [dev], [dev], fe, progress=False)
    enh = FeatureEnhancer.load(fe)
    for name, d in (("train", tc), ("dev", dev)):
        enh.enhance_datadir(d, tmp_path / "enh" / name)
        paste_feats([tmp_path / "enh" / name, d], tmp_path / "paste" / name)
    am = tmp_path / "am"
    train_am(tiny_config(tmp_path, epochs=2), [tmp_path / "paste" / "train"],
             tmp_path / "paste" / "dev", am, seed=1)  # fmt: skip
    meta = json.loads((am / "am.json").read_text())
    assert (meta["feat_dim"], meta["feats_type"]) == (80, "fbank+fbank")
    off = decode(am, tmp_path / "paste" / "dev", tmp_path / "off")
    on = decode(am, dev, tmp_path / "on", frontend=fe)
    assert (tmp_path / "on" / "hyp").read_text() == (tmp_path / "off" / "hyp").read_text()
    assert on["n_err"] == off["n_err"] and on["n_words"] == 48
    with pytest.raises(DataDirError, match="40-dim features.*80-dim.*paste-feats"):
        decode(am, dev, tmp_path / "raw")
    assert not (tmp_path / "raw" / "decode.json").exists()
    # --frontend-precision bf16: what the recipes' `enhance --precision auto` wrote
    # (on a CPU with avx512_bf16 / AMX), not the fp32 decode's features
    enh16 = FeatureEnhancer.load(fe, precision="bf16")
    enh16.enhance_datadir(dev, tmp_path / "enh16" / "dev")
    paste_feats([tmp_path / "enh16" / "dev", dev], tmp_path / "paste16" / "dev")
    off16 = decode(am, tmp_path / "paste16" / "dev", tmp_path / "off16")
    on16 = decode(am, dev, tmp_path / "on16", frontend=fe, frontend_precision="bf16")
    assert (tmp_path / "on16" / "hyp").read_text() == (tmp_path / "off16" / "hyp").read_text()
    assert on16["n_err"] == off16["n_err"]
    assert json.loads((tmp_path / "on16" / "decode.json").read_text())[
        "frontend_precision"] == "bf16"
    assert json.loads((tmp_path / "on" / "decode.json").read_text())[
        "frontend_precision"] == "fp32"
    # a finished decode is redone for another front-end precision, not reused
    assert decode_is_complete(am, dev, tmp_path / "on", frontend=fe)
    assert not decode_is_complete(am, dev, tmp_path / "on", frontend=fe,
                                  frontend_precision="bf16")  # fmt: skip
    assert decode_is_complete(am, dev, tmp_path / "on16", frontend=fe,
                              frontend_precision="bf16")  # fmt: skip


def test_init_from_another_am(tmp_path, feats_dirs, monkeypatch):
    """--init: a model on pasted features starts as the init AM's function (its
    input weights on the last dims, 0 on the others), keeps its tokens, trains for
    init_epochs (and with init_speed_perturb / init_random_phase: augmented, where
    the start was not), and a mismatched init is a clear error."""
    from pipeline.asr.decode import LoadedAM
    from pipeline.asr.train import init_from, load_hparams, train_am
    from pipeline.make_feats import paste_feats

    factors = []
    _spy(monkeypatch, "stretch_time", factors)
    torch.set_num_threads(1)
    tc, dev = feats_dirs["train_clean"], feats_dirs["dev"]
    base = tmp_path / "base"
    train_am(tiny_config(tmp_path, epochs=1), [tc], dev, base, seed=1)
    assert factors == []  # no speed_perturb from scratch
    for name, d in (("train", feats_dirs["train_noisy"]), ("dev", dev)):
        paste_feats([d, d], tmp_path / "paste" / name)  # 80-d: any features first
    conf = tiny_config(tmp_path, epochs=6)
    conf.write_text(conf.read_text() + "init_epochs: 2\ninit_lr: 0.002\n"
                    "init_speed_perturb: 0.1\ninit_random_phase: true\n")  # fmt: skip
    hp, _ = load_hparams(conf, {"feat_dim": 80, "n_tokens": len(Tokens.load(base / "tokens.txt"))})  # noqa: E501
    model = hp["model"].eval()
    src = LoadedAM(base)
    assert init_from(model, src, 80, pasted=True) == 40
    x = torch.randn(3, 50, 40)
    pasted = torch.cat([torch.randn(3, 50, 40) * 5, x], dim=-1)
    with torch.no_grad():
        assert torch.allclose(model(pasted)[0], src.model(x)[0], atol=1e-5)
    exp = tmp_path / "ft"
    train_am(conf, [tmp_path / "paste" / "train"], tmp_path / "paste" / "dev", exp,
             seed=1, init=base)  # fmt: skip
    meta = json.loads((exp / "am.json").read_text())
    assert (meta["init"], meta["init_offset"], meta["epochs"], meta["lr"]) == (
        str(base.resolve()), 40, 2, 0.002)
    assert [e for e, _ in _log_epochs(exp)] == [1, 2]  # init_epochs, not 6
    assert factors and all(0.9 <= f <= 1.1 for f in factors)  # init_speed_perturb
    assert (exp / "tokens.txt").read_text() == (base / "tokens.txt").read_text()
    with pytest.raises(DataDirError, match="another model size"):
        train_am(tiny_config(tmp_path, epochs=1, conv_channels=32), [tc], dev,
                 tmp_path / "bad", seed=1, init=base)  # fmt: skip
    import shutil

    shutil.copytree(tmp_path / "paste" / "train", tmp_path / "wide")
    (tmp_path / "wide" / "feats_type").unlink()  # 80-d, but not pasted beside its own
    with pytest.raises(DataDirError, match="not pasted beside them"):
        train_am(conf, [tmp_path / "wide"], tmp_path / "paste" / "dev",
                 tmp_path / "bad3", seed=1, init=base)  # fmt: skip
    with pytest.raises(DataDirError, match="not a finished model dir"):
        train_am(conf, [tc], dev, tmp_path / "bad2", init=tmp_path / "bad")


def test_train_am_cli_init_in_request(tmp_path, feats_dirs, capfd):
    """train-am --init: the init AM is part of the request (a retrained init AM
    is another request), and an unfinished one is refused before anything runs."""
    from pipeline.__main__ import main

    tc, dev = str(feats_dirs["train_clean"]), str(feats_dirs["dev"])
    conf = str(tiny_config(tmp_path, epochs=1))
    base, ft = tmp_path / "base", tmp_path / "ft"
    args = ["train-am", "--config", conf, "--train", tc, "--dev", dev, "--seed", "1"]
    assert main(args + ["--out", str(base), "--init", str(tmp_path / "none")]) == 1
    assert not base.exists() or not any(base.iterdir())
    assert main(args + ["--out", str(base), "--no-progress"]) == 0
    assert main(args + ["--out", str(ft), "--init", str(base), "--no-progress"]) == 0
    req = json.loads((ft / "request.json").read_text())
    assert req["init"]["path"] == str(base.resolve())
    capfd.readouterr()
    assert main(args + ["--out", str(ft), "--init", str(base), "--no-progress"]) == 0
    out = capfd.readouterr()  # done: one skip line, nothing loaded (recipes rely on it)
    assert (out.out + out.err).strip().splitlines() == [f"skip: train-am {ft} (done)"]
    (base / "train.done").touch()  # "retrained": another request
    assert main(args + ["--out", str(ft), "--init", str(base)]) == 2
