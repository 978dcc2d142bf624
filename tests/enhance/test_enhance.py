"""Front-end models, training, resume, streaming and the enhance CLI on tiny
synthetic parallel data (see conftest.py)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.datadir import DataDir, DataDirError
from pipeline.enhance.data import ParallelSet, frame_errors
from pipeline.enhance.enhancer import EnhancerError, FeatureEnhancer
from pipeline.enhance.models import build_model
from pipeline.enhance.train import pairs
from tests.enhance.conftest import (
    DNN_CONF, LSTM_CONF, make_parallel, train, write_parallel,
)  # fmt: skip

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """dnn and lstm models trained once for the module."""
    root = tmp_path_factory.mktemp("enh")
    par = make_parallel(root)
    out = {}
    for conf in (DNN_CONF, LSTM_CONF):
        exp = root / conf["frontend"]
        out[conf["frontend"]] = (exp, train(par, exp, conf))
    return out, par


@pytest.mark.parametrize("frontend", ["dnn", "lstm"])
def test_training_beats_identity(trained, frontend):
    models, _ = trained
    exp, m = models[frontend]
    dev = m["dev"]["all"]
    assert dev["enh_mse"] < 0.7 * dev["input_mse"]
    assert dev["enh_lsd_db"] < dev["input_lsd_db"]
    assert "snr=-6dB" in m["dev"] and (exp / "metrics.json").is_file()
    assert len(m["history"]) == 3


@pytest.mark.parametrize("frontend", ["dnn", "lstm"])
def test_shapes_and_denormalization(trained, frontend):
    models, (tn, tc, dn, dc) = trained
    enh = FeatureEnhancer.load(models[frontend][0])
    data = pairs([dn], [dc])
    x = data.inputs[0]
    y = enh.enhance(x)
    assert isinstance(y, np.ndarray) and y.shape == (len(x), 40)
    yt = enh.enhance(torch.from_numpy(x))
    assert isinstance(yt, torch.Tensor) and torch.allclose(yt, torch.from_numpy(y))
    # output is in the raw log-mel domain: mean close to the clean targets', not 0
    allc = np.concatenate(data.targets)
    ally = np.concatenate([enh.enhance(v) for v in data.inputs])
    assert abs(ally.mean() - allc.mean()) < 0.3 * allc.std()
    assert abs(ally.mean()) > 0.5
    assert enh.enhance(x, kind="mfcc").shape == (len(x), 13)
    b = enh.enhance_batch(data.inputs)
    for v, o in zip(data.inputs, b):
        np.testing.assert_allclose(o, enh.enhance(v), atol=1e-4)


def test_bf16_training_learns_and_saves_fp32(tmp_path):
    """training.precision bf16: autocast around each update; the saved model is
    fp32 and learns about as well as the fp32 run of the same config."""
    par = make_parallel(tmp_path)
    m32 = train(par, tmp_path / "fp32", LSTM_CONF)
    conf = copy.deepcopy(LSTM_CONF)
    conf["training"]["precision"] = "bf16"
    m16 = train(par, tmp_path / "bf16", conf)
    d32, d16 = m32["dev"]["all"], m16["dev"]["all"]
    assert d16["enh_mse"] < 0.7 * d16["input_mse"]
    assert d16["enh_mse"] < 1.2 * d32["enh_mse"]
    assert d16["enh_mse"] != d32["enh_mse"]  # autocast did run: bf16 rounding differs
    enh = FeatureEnhancer.load(tmp_path / "bf16")
    assert all(p.dtype == torch.float32 for p in enh.model.parameters())
    conf["training"]["precision"] = "half"
    with pytest.raises(ValueError, match=r"training.precision must be one of \['fp32', 'bf16', 'auto'\]"):
        train(par, tmp_path / "bad", conf)


@pytest.mark.parametrize("frontend", ["dnn", "lstm"])
def test_bf16_inference_is_close_to_fp32_and_stamped(trained, frontend, tmp_path):
    """precision bf16: the offline paths run under bf16 autocast (outputs differ
    from fp32's by rounding only); an enhanced dir of one precision is not taken
    as complete for the other; a precision that is not one of the choices is an
    error."""
    from pipeline.config import resolve_precision

    models, (_, _, dn, dc) = trained
    f32 = FeatureEnhancer.load(models[frontend][0])
    b16 = FeatureEnhancer.load(models[frontend][0], precision="bf16")
    assert (f32.precision, b16.precision) == ("fp32", "bf16")
    assert FeatureEnhancer.load(models[frontend][0], precision="auto").precision == \
        resolve_precision("auto")  # fmt: skip
    xs = pairs([dn], [dc]).inputs
    y32, y16 = f32.enhance_batch(xs), b16.enhance_batch(xs)
    assert all(y.dtype == np.float32 for y in y16)
    diff = np.concatenate([np.abs(a - b).ravel() for a, b in zip(y32, y16)])
    scale = np.concatenate([np.abs(a).ravel() for a in y32]).mean()
    assert 0 < diff.mean() < 0.02 * scale  # bf16 ran, and rounds only
    # one utterance alone: bf16 rounds by batch shape too
    assert np.abs(b16.enhance(xs[0]) - y16[0]).mean() < 0.02 * scale
    out = tmp_path / "enh"
    f32.enhance_datadir(dn, out)
    assert f32.is_enhanced(dn, out) and not b16.is_enhanced(dn, out)
    b16.enhance_datadir(dn, out)
    assert b16.is_enhanced(dn, out) and not f32.is_enhanced(dn, out)
    with pytest.raises(ValueError, match="precision must be one of"):
        FeatureEnhancer.load(models[frontend][0], precision="fp16")


def test_read_only_features_enhance_without_a_warning(trained):
    """kaldiio.load_mat gives read-only arrays (decode --frontend enhances those)."""
    import warnings

    enh = FeatureEnhancer.load(trained[0]["dnn"][0])
    x = np.random.default_rng(0).normal(size=(30, 40)).astype(np.float32)
    ro = x.copy()
    ro.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(enh.enhance(ro), enh.enhance(x))


def test_dim_mismatch_is_clear(trained):
    enh = FeatureEnhancer.load(trained[0]["dnn"][0])
    with pytest.raises(EnhancerError, match="dim 13.*expects 40"):
        enh.enhance(np.zeros((20, 13), np.float32))


@pytest.mark.parametrize("frontend", ["dnn", "lstm"])
def test_stream_equals_offline(trained, frontend):
    models, (_, _, dn, dc) = trained
    enh = FeatureEnhancer.load(models[frontend][0])
    x = pairs([dn], [dc]).inputs[1]
    ref = enh.enhance(x)
    for chunk in (1, 7, 10, 500):
        s = enh.stream()
        outs = [s.push(x[i:i + chunk]) for i in range(0, len(x), chunk)]
        outs.append(s.flush())
        got = np.concatenate(outs)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, atol=1e-4)
    if frontend == "lstm":  # causal: frames come out as they go in
        s = enh.stream()
        assert len(s.push(x[:10])) == 10


@pytest.mark.parametrize("frontend", ["dnn", "lstm"])
def test_concurrent_streams_equal_offline(trained, frontend):
    """EnhancerStreams: streams of different lengths pushed together (chunk sizes
    that differ between streams and pushes, empty chunks, a stream that ends and
    starts a new utterance mid-way) give each stream's offline output."""
    models, (_, _, dn, dc) = trained
    enh = FeatureEnhancer.load(models[frontend][0])
    xs = pairs([dn], [dc]).inputs[:3]
    assert len({len(x) for x in xs}) > 1
    chunk = [10, 10, 7]
    pos = [0, 0, 0]
    got: list = [[], [], []]
    restart = {2: xs[0]}  # stream 2 takes a second utterance after its first
    done2 = []
    ss = enh.streams(3)
    while any(p < len(x) for p, x in zip(pos, xs)):
        push = []
        for k in range(3):
            n = chunk[k] if pos[k] % 20 else chunk[k] // 2 + 1  # vary the sizes
            push.append(xs[k][pos[k]:pos[k] + n])
            pos[k] += len(push[-1])
        for k, o in enumerate(ss.push(push)):
            got[k].append(o)
        if pos[2] >= len(xs[2]) and 2 in restart:
            got[2] += ss.flush(2)
            done2, got[2] = got[2], []
            xs[2], pos[2] = restart.pop(2), 0
    for k, o in enumerate(ss.flush()):
        got[k].append(o)
    refs = [enh.enhance(x) for x in xs]
    for k in range(3):
        np.testing.assert_allclose(np.concatenate(got[k]), refs[k], atol=1e-4)
    first2 = pairs([dn], [dc]).inputs[2]
    np.testing.assert_allclose(np.concatenate(done2), enh.enhance(first2), atol=1e-4)
    with pytest.raises(EnhancerError, match="one chunk per stream"):
        ss.push([xs[0][:5]])


@pytest.mark.parametrize("conf", [
    {"frontend": "dnn", "frontend_conf": {"context": 2, "hidden": [16]}},
    {"frontend": "lstm", "frontend_conf": {"hidden": 8, "layers": 2}},
    {"frontend": "lstm", "frontend_conf": {"hidden": 8, "layers": 1, "bidirectional": True}},
])
def test_forward_batch_equals_one_by_one(conf):
    """forward_batch in batches smaller than one utterance, across utterances of
    different lengths (and an empty one), equals the model on each alone."""
    torch.manual_seed(0)
    m = build_model(conf["frontend"], 6, 4, conf["frontend_conf"]).eval()
    xs = [torch.randn(n, 6) * 3 for n in (17, 0, 5, 40, 1, 23)]
    want = [m(x[None])[0] if len(x) else torch.zeros(0, 4) for x in xs]
    for max_frames in (8, 30, 10_000):
        got = m.forward_batch(xs, max_frames)
        assert [tuple(g.shape) for g in got] == [(len(x), 4) for x in xs]
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, atol=1e-5, rtol=1e-5)


def test_blstm_cannot_stream():
    m = build_model("lstm", 40, 40, {"hidden": 8, "layers": 1, "bidirectional": True})
    enh = FeatureEnhancer(m, {"frontend": "lstm"})
    with pytest.raises(EnhancerError, match="bidirectional"):
        enh.stream()


def test_batchnorm_folding():
    torch.manual_seed(0)
    m = build_model("dnn", 40, 40, {"context": 2, "hidden": [32, 16],
                                    "batchnorm": True, "dropout": 0.0})  # fmt: skip
    for mod in m.modules():  # non-trivial running stats and affine params
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.running_mean.uniform_(-1, 1)
            mod.running_var.uniform_(0.5, 2)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.5, 0.5)
    m.eval()
    x = torch.randn(1, 50, 40)
    with torch.no_grad():
        ref = m(x)
        folded = copy.deepcopy(m).fold_batchnorm()
        assert not any(isinstance(k, torch.nn.BatchNorm1d) for k in folded.modules())
        torch.testing.assert_close(folded(x), ref, atol=1e-5, rtol=1e-5)


def test_resume_is_exact(parallel, tmp_path):
    conf = dict(DNN_CONF, training=dict(DNN_CONF["training"], epochs=3))
    train(parallel, tmp_path / "full", conf)
    # interrupted after epoch 1, then resumed to 3
    train(parallel, tmp_path / "part", dict(conf, training=dict(conf["training"], epochs=1)))  # noqa: E501
    train(parallel, tmp_path / "part", conf)
    a = torch.load(tmp_path / "full" / "ckpt" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "part" / "ckpt" / "last.pt", weights_only=False)
    for k, v in a["modules"]["model"].items():
        assert torch.equal(v, b["modules"]["model"][k]), k
    assert [h["dev_loss"] for h in a["state"]["history"]] == \
        [h["dev_loss"] for h in b["state"]["history"]]


def test_mismatched_ids_and_frames(tmp_path):
    n1, _ = write_parallel(tmp_path / "a", n_utt=4, seed=0)
    _, c2 = write_parallel(tmp_path / "b", n_utt=3, seed=0)
    with pytest.raises(DataDirError, match=r"not parallel: 8 utterances in .*a/noisy, "
                       r"6 in .*b/clean"):  # fmt: skip
        ParallelSet().add_pair(n1, c2)
    _, c3 = write_parallel(tmp_path / "c", n_utt=4, seed=5)
    with pytest.raises(DataDirError, match="frame counts differ"):
        ParallelSet().add_pair(n1, c3)


def test_lsd_definition():
    a = np.zeros((3, 40))
    b = np.full((3, 40), np.log(10.0))  # 10 dB everywhere
    se, lsd, n = frame_errors(b, a)
    assert n == 3 and np.isclose(lsd / n, 10.0) and np.isclose(se / n, np.log(10) ** 2)


def test_enhance_cli_writes_valid_datadir(trained, tmp_path):
    from pipeline.__main__ import main

    models, (_, _, dn, dc) = trained
    out = tmp_path / "enh"
    assert main(["enhance", "--model", str(models["dnn"][0]), str(dn), str(out),
                 "--no-progress"]) == 0  # fmt: skip
    d = DataDir.load(out).validate()
    assert (out / "feats_type").read_text().strip() == "fbank"
    assert (out / "cmvn_global.ark").is_file() and d.utt2snr is not None
    arks = set((out / "data").iterdir())
    # complete: skipped; --force: rewritten, old arks removed
    assert main(["enhance", "--model", str(models["dnn"][0]), str(dn), str(out)]) == 0
    assert set((out / "data").iterdir()) == arks
    assert main(["enhance", "--model", str(models["dnn"][0]), str(dn), str(out),
                 "--force", "--kind", "mfcc"]) == 0  # fmt: skip
    DataDir.load(out).validate()
    assert len(list((out / "data").iterdir())) == 2
    assert (out / "feats_type").read_text().strip() == "mfcc"
    from pipeline import FeatureEnhancer as FE

    assert FE is FeatureEnhancer
    # eval-enhancer appends to metrics.json
    assert main(["eval-enhancer", "--model", str(models["lstm"][0]), "--noisy", str(dn),
                 "--clean", str(dc), "--name", "devset"]) == 0  # fmt: skip
    import json

    m = json.loads((models["lstm"][0] / "metrics.json").read_text())
    assert "devset" in m["eval"] and "dev" in m


@pytest.mark.parametrize("frontend", ["dnn", "lstm", "gan"])
def test_train_cli_with_quick_config(parallel, tmp_path, frontend):
    from pathlib import Path

    from pipeline.__main__ import main

    tn, tc, dn, dc = parallel
    conf = Path(__file__).parents[2] / f"recipes/simgrid/conf/enhance_{frontend}_quick.yaml"  # noqa: E501
    exp = tmp_path / "exp"
    args = ["train-enhancer", "--config", str(conf), "--noisy", f"{tn},{tn}",
            "--clean", str(tc), "--dev-noisy", str(dn), "--dev-clean", str(dc),
            "--out", str(exp), "--no-progress", "--threads", "1"]  # fmt: skip
    assert main(args) == 0
    assert (exp / "model.pt").is_file() and (exp / "config.source.yaml").is_file()
    import yaml

    used = yaml.safe_load((exp / "config.yaml").read_text())  # every default recorded
    assert used["training"]["weight_decay"] == 0.0 and used["output_kind"] == "fbank"
    if frontend == "gan":
        assert used["gan"]["recon_reduction"] == "mean" and used["gan"]["d_every"] == 1
    assert FeatureEnhancer.load(exp).enhance(np.zeros((5, 40), np.float32)).shape == (5, 40)  # noqa: E501
    assert main(["eval-enhancer", "--model", str(exp), "--noisy", str(dn),
                 "--clean", str(dc), "--threads", "1"]) == 0  # fmt: skip
    # target reverb without --reverb dirs: usage error
    rev = tmp_path / "rev.yaml"
    rev.write_text(conf.read_text().replace("target: clean", "target: reverb"))
    assert main(args[:2] + [str(rev)] + args[3:]) == 2


def test_a_new_frontend_needs_only_a_decorated_class(tmp_path, parallel):
    """The README's recipe for a front-end: one FeatureMapper subclass with
    @register_frontend in a new module under pipeline/enhance/ is found by name
    (no import anywhere) and trained with the default reconstruction step."""
    import pipeline.enhance as pkg
    from pipeline.enhance import models
    from pipeline.enhance.train import ChunkStep, step_class, train_enhancer

    mod = Path(pkg.__path__[0]) / "linfe_under_test.py"
    mod.write_text(
        "from torch import nn\n"
        "from pipeline.enhance.models import FeatureMapper, register_frontend\n\n\n"
        "@register_frontend('linfe_under_test')\n"
        "class Lin(FeatureMapper):\n"
        "    def __init__(self, in_dim, out_dim):\n"
        "        super().__init__(in_dim, out_dim)\n"
        "        self.lin = nn.Linear(in_dim, out_dim)\n\n"
        "    def core(self, xn, state=None):\n"
        "        return self.lin(xn), state\n")
    try:
        models._discovered.clear()  # as in a fresh process
        assert step_class("linfe_under_test") is ChunkStep
        tn, tc, dn, dc = parallel
        conf = {"frontend": "linfe_under_test",
                "training": {"epochs": 2, "frames_per_epoch": 2000, "batch_size": 8,
                             "chunk_len": 20}}  # fmt: skip
        m = train_enhancer(conf, [tn], [tc], [dn], [dc], tmp_path / "exp", progress=False)
        assert m["dev"]["all"]["enh_mse"] < m["dev"]["all"]["input_mse"]
        assert FeatureEnhancer.load(tmp_path / "exp").enhance(
            np.zeros((5, 40), np.float32)).shape == (5, 40)
    finally:
        mod.unlink()
        models.FRONTENDS.pop("linfe_under_test", None)
    with pytest.raises(ValueError, match="unknown frontend 'nope'"):
        step_class("nope")


@pytest.mark.parametrize("edit, expect", [
    (("  lr: 0.005", "  lr: abc"), "training.lr must be a number, got 'abc'"),
    (("  epochs: 3", "  epochs: 2.5"), "training.epochs must be an integer"),
    (("  d_lr: 0.001", "  d_lr: fast"), "gan.d_lr must be a number"),
    (("  d_lr: 0.001", "  d_lrr: 0.001"), "unknown gan option(s) ['d_lrr']"),
    (("  lr: 0.005", "  lr: !ref <learning_rate>"), "cannot load the config"),
    (("frontend: gan", "frontend: gann"), "unknown frontend 'gann'"),
])
def test_config_mistakes_are_one_line_usage_errors(tmp_path, parallel, capsys, edit, expect):
    """A bad value, a misspelt key or a dangling !ref: exit 2, one line naming the
    config file and the key, nothing written."""
    from pipeline.__main__ import main

    src = Path(__file__).parents[2] / "recipes/simgrid/conf/enhance_gan_quick.yaml"
    text = src.read_text()
    assert edit[0] in text
    conf = tmp_path / "bad.yaml"
    conf.write_text(text.replace(edit[0], edit[1], 1))
    tn, tc, dn, dc = parallel
    out = tmp_path / "exp"
    rc = main(["train-enhancer", "--config", str(conf), "--noisy", str(tn), "--clean",
               str(tc), "--dev-noisy", str(dn), "--dev-clean", str(dc), "--out", str(out),
               "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and expect in err and str(conf) in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
