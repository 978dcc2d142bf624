"""Bad input and stale state, one at a time, through the command line as a user
meets them: each case asserts the exit status (1 bad data, 2 usage error), that
the message names the file (and line where there is one), and that nothing was
half-written, damaged or silently reused."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from tests.asr.conftest import make_feats_dir, tiny_config
from tests.conftest import make_datadir
from tests.enhance.conftest import write_parallel

REPO = Path(__file__).resolve().parents[1]
ENH_CONF = REPO / "recipes/simgrid/conf/enhance_dnn_quick.yaml"


def cli(capsys, *argv, package="pipeline"):
    """(exit status, stdout, stderr) of ``python -m <package> ARGV`` in-process."""
    if package == "pipeline":
        from pipeline.__main__ import main
    else:
        from data_prep.__main__ import main
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse usage errors
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def snapshot(root: Path) -> dict:
    """Every file under ``root`` with its size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def poison(data_dir: Path, utt: str | None = None, value=np.nan) -> int:
    """Rewrite ``data_dir``'s features with one non-finite value in ``utt`` (default:
    the second utterance); returns the feats.scp line of that utterance."""
    scp = data_dir / "feats.scp"
    keys = [ln.split()[0] for ln in scp.read_text().splitlines()]
    mats = {k: np.array(v) for k, v in kaldiio.load_scp(str(scp)).items()}
    utt = utt or keys[1]
    mats[utt] = mats[utt].copy()
    mats[utt][1, 2] = value
    ark = data_dir / "data" / "poisoned.ark"
    with kaldiio.WriteHelper(f"ark,scp:{ark},{scp}.new") as w:
        for k in keys:
            w(k, mats[k])
    os.replace(f"{scp}.new", scp)
    return keys.index(utt) + 1


@pytest.fixture
def am_data(tmp_path):
    return {"train": make_feats_dir(tmp_path, "train", n_utt=8, seed=1),
            "dev": make_feats_dir(tmp_path, "dev", n_utt=2, seed=3)}  # fmt: skip


@pytest.fixture
def enh_data(tmp_path):
    tn, tc = write_parallel(tmp_path / "train", seed=0)
    dn, dc = write_parallel(tmp_path / "dev", n_spk=1, n_utt=3, seed=1)
    return tn, tc, dn, dc


def train_enh_args(enh_data, out, conf=ENH_CONF, *extra):
    tn, tc, dn, dc = enh_data
    return ["train-enhancer", "--config", conf, "--noisy", tn, "--clean", tc,
            "--dev-noisy", dn, "--dev-clean", dc, "--out", out, "--no-progress",
            "--threads", "1", *extra]  # fmt: skip


def am_args(am_data, out, conf, *extra):
    return ["train-am", "--config", conf, "--train", am_data["train"], "--dev",
            am_data["dev"], "--out", out, "--no-progress", *extra]  # fmt: skip


# --------------------------------------------------------------- data dirs, audio
def test_validate_names_nan_feature_line(capsys, enh_data):
    line = poison(enh_data[0])
    rc, _, err = cli(capsys, "validate-data-dir", enh_data[0])
    assert rc == 1 and f"feats.scp:{line}:" in err and "non-finite" in err, err


def test_duplicate_text_key_names_line(capsys, datadir):
    text = datadir / "text"
    lines = text.read_text().splitlines()
    text.write_text("\n".join(lines[:2] + [lines[1]] + lines[2:]) + "\n")
    rc, _, err = cli(capsys, "validate-data-dir", "--no-feats", datadir)
    assert rc == 1 and "text:3" in err, err


def test_make_feats_missing_wav_keeps_dir_featureless(capsys, datadir):
    scp = datadir / "wav.scp"
    first = scp.read_text().splitlines()[0].split()
    Path(first[1]).unlink()
    rc, _, err = cli(capsys, "make-feats", "--no-progress", datadir)
    assert rc == 1 and "wav.scp:1" in err, err
    assert not (datadir / "feats.scp").exists()


def test_make_feats_other_sample_rate_is_an_error(capsys, tmp_path):
    d = make_datadir(tmp_path, sr=8000)
    rc, _, err = cli(capsys, "make-feats", "--no-progress", d)
    assert rc == 1 and "8000" in err and "--resample" in err and "wav" in err, err
    assert not (d / "feats.scp").exists()


@pytest.mark.parametrize("verb", ["subset-data-dir", "copy-data-dir", "combine-data-dirs"])
def test_output_dir_that_is_a_file_is_a_usage_error(capsys, datadir, tmp_path, verb):
    target = tmp_path / "not_a_dir"
    target.write_text("keep me\n")
    argv = {"subset-data-dir": [verb, datadir, target, "--first", "2"],
            "copy-data-dir": [verb, datadir, target],
            "combine-data-dirs": [verb, target, datadir]}[verb]  # fmt: skip
    rc, _, err = cli(capsys, *argv)
    assert rc == 2 and str(target) in err and "not a directory" in err, err
    assert target.read_text() == "keep me\n"


def test_simgrid_output_dir_that_is_a_file(capsys, tmp_path):
    target = tmp_path / "corpus"
    target.write_text("x")
    rc, _, err = cli(capsys, "simgrid", target, "--size", "quick", package="data_prep")
    assert rc == 2 and str(target) in err, err
    assert target.read_text() == "x"


# ------------------------------------------------------------------ AM training
def test_train_am_refuses_nan_features(capsys, tmp_path, am_data):
    line = poison(am_data["train"])
    out = tmp_path / "am"
    rc, _, err = cli(capsys, *am_args(am_data, out, tiny_config(tmp_path, epochs=1)))
    assert rc == 1 and f"feats.scp:{line}:" in err and "non-finite" in err, err
    assert "spk0_001" in err and "Traceback" not in err
    assert not (out / "am.json").exists() and not (out / "save").exists()


@pytest.mark.parametrize("edit, expect", [
    (("limit: !ref <number_of_epochs>", "limit: !ref <number_of_epoch>"),
     "number_of_epoch"),
    (("lr: 0.003", "lr: abc"), "lr must be a number, got 'abc'"),
    (("number_of_epochs: 3", "number_of_epochs: 2.5"), "number_of_epochs must be an integer"),
    (("cmvn: speaker", "cmvn: speakers"), "cmvn must be one of"),
    (("token_type: word", "token_typ: word"), "missing key(s) ['token_type']"),
    (("stride: 3", "stride: [3"), "cannot load the config"),
])  # fmt: skip
def test_am_config_mistakes_are_one_line_usage_errors(capsys, tmp_path, am_data, edit,
                                                      expect):  # fmt: skip
    src = (REPO / "recipes/simgrid/conf/am_quick.yaml").read_text()
    assert edit[0] in src, edit
    conf = tmp_path / "bad_am.yaml"
    conf.write_text(src.replace(edit[0], edit[1], 1))
    out = tmp_path / "am"
    rc, _, err = cli(capsys, *am_args(am_data, out, conf))
    assert rc == 2 and expect in err and str(conf) in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_train_am_out_is_a_file(capsys, tmp_path, am_data):
    out = tmp_path / "am"
    out.write_text("x")
    rc, _, err = cli(capsys, *am_args(am_data, out, tiny_config(tmp_path, epochs=1)))
    assert rc == 2 and str(out) in err and "not a directory" in err, err


def test_train_am_rerun_skips_refuses_and_forces(capsys, tmp_path, am_data):
    """Done: skip, touching nothing. Another config: exit 2, nothing touched.
    Features recomputed: exit 2 naming the dir. --force: trains afresh."""
    out = tmp_path / "am"
    conf1 = tiny_config(tmp_path, epochs=1)
    assert cli(capsys, *am_args(am_data, out, conf1))[0] == 0
    before = snapshot(out)
    rc, stdout, _ = cli(capsys, *am_args(am_data, out, conf1))
    assert rc == 0 and stdout.strip() == f"skip: train-am {out} (done)"
    assert snapshot(out) == before
    conf2 = tiny_config(tmp_path, epochs=2)
    rc, _, err = cli(capsys, *am_args(am_data, out, conf2))
    assert rc == 2 and "config" in err and "--force" in err, err
    assert snapshot(out) == before
    time.sleep(0.01)
    poison(am_data["dev"], value=0.5)  # features rewritten (finite)
    rc, _, err = cli(capsys, *am_args(am_data, out, conf1))
    assert rc == 2 and str(am_data["dev"].resolve()) in err, err
    assert snapshot(out) == before
    assert cli(capsys, *am_args(am_data, out, conf2, "--force"))[0] == 0
    assert "epoch: 2" in (out / "train_log.txt").read_text()
    assert "epoch: 1," in (out / "train_log.txt").read_text()


def test_train_am_refuses_a_dir_without_request_stamp(capsys, tmp_path, am_data):
    out = tmp_path / "am"
    out.mkdir()
    (out / "am.json").write_text("{}")  # a model dir of an older version
    rc, _, err = cli(capsys, *am_args(am_data, out, tiny_config(tmp_path, epochs=1)))
    assert rc == 2 and "request.json" in err and "am.json" in err, err
    assert (out / "am.json").read_text() == "{}"


# ------------------------------------------------------------ front-end training
def test_train_enhancer_refuses_nan_features(capsys, tmp_path, enh_data):
    line = poison(enh_data[0])
    out = tmp_path / "fe"
    rc, _, err = cli(capsys, *train_enh_args(enh_data, out))
    assert rc == 1 and f"feats.scp:{line}:" in err and "non-finite" in err, err
    assert not (out / "model.pt").exists() and not (out / "train.done").exists()


def test_train_enhancer_out_is_a_file(capsys, tmp_path, enh_data):
    out = tmp_path / "fe"
    out.write_text("x")
    rc, _, err = cli(capsys, *train_enh_args(enh_data, out))
    assert rc == 2 and str(out) in err, err
    assert out.read_text() == "x"


def test_train_enhancer_rerun_skips_refuses_and_forces(capsys, tmp_path, enh_data):
    out = tmp_path / "fe"
    assert cli(capsys, *train_enh_args(enh_data, out))[0] == 0
    before = snapshot(out)
    rc, stdout, _ = cli(capsys, *train_enh_args(enh_data, out))
    assert rc == 0 and stdout.strip() == f"skip: train-enhancer {out} (done)"
    assert snapshot(out) == before
    conf2 = tmp_path / "other.yaml"
    conf2.write_text(ENH_CONF.read_text().replace("hidden: [", "hidden: [16, "))
    rc, _, err = cli(capsys, *train_enh_args(enh_data, out, conf2))
    assert rc == 2 and "another request" in err and "--force" in err, err
    assert snapshot(out) == before
    rc, _, err = cli(capsys, *train_enh_args(enh_data, out, ENH_CONF, "--seed", "7"))
    assert rc == 2 and "config" in err, err
    assert cli(capsys, *train_enh_args(enh_data, out, conf2, "--force"))[0] == 0
    used = (out / "config.yaml").read_text()
    assert "16" in used and snapshot(out) != before


# ------------------------------------------------------- enhancement, evaluation
@pytest.fixture
def fe_model(tmp_path_factory):
    """A trained quick DNN front-end (shared by the enhancement cases)."""
    from pipeline.__main__ import main

    root = tmp_path_factory.mktemp("fe_model")
    data = write_parallel(root / "train", seed=0) + write_parallel(
        root / "dev", n_spk=1, n_utt=3, seed=1)  # fmt: skip
    assert main([str(a) for a in train_enh_args(data, root / "fe")]) == 0
    return root / "fe"


def test_enhance_refuses_nan_input_and_writes_nothing(capsys, tmp_path, fe_model):
    noisy, _ = write_parallel(tmp_path / "in", n_spk=1, n_utt=3, seed=5)
    line = poison(noisy)
    out = tmp_path / "enh"
    rc, _, err = cli(capsys, "enhance", "--model", fe_model, "--no-progress", noisy, out)
    assert rc == 1 and f"feats.scp:{line}:" in err, err
    assert not (out / "feats.scp").exists()


def test_enhancer_that_outputs_nan_fails_and_writes_nothing(capsys, tmp_path, fe_model):
    import shutil

    import torch

    bad = tmp_path / "bad_fe"
    shutil.copytree(fe_model, bad)
    info = torch.load(bad / "model.pt", weights_only=False)
    key = next(k for k in info["state_dict"] if k.endswith("weight"))
    info["state_dict"][key] = torch.full_like(info["state_dict"][key], float("nan"))
    torch.save(info, bad / "model.pt")
    noisy, _ = write_parallel(tmp_path / "in", n_spk=1, n_utt=3, seed=5)
    out = tmp_path / "enh"
    rc, _, err = cli(capsys, "enhance", "--model", bad, "--no-progress", noisy, out)
    assert rc == 1 and "non-finite" in err and str(bad) in err, err
    assert not (out / "feats.scp").exists() and not (out / "enhance_info.json").exists()


def test_enhance_out_is_a_file(capsys, tmp_path, fe_model):
    noisy, _ = write_parallel(tmp_path / "in", n_spk=1, n_utt=3, seed=5)
    out = tmp_path / "enh"
    out.write_text("x")
    rc, _, err = cli(capsys, "enhance", "--model", fe_model, noisy, out)
    assert rc == 2 and str(out) in err and out.read_text() == "x", err


def test_enhance_and_eval_reruns_skip_until_input_changes(capsys, tmp_path, fe_model):
    noisy, clean = write_parallel(tmp_path / "in", n_spk=1, n_utt=3, seed=5)
    out = tmp_path / "enh"
    args = ["enhance", "--model", fe_model, "--no-progress", noisy, out]
    assert cli(capsys, *args)[0] == 0
    before = snapshot(out)
    rc, stdout, _ = cli(capsys, *args)
    assert rc == 0 and stdout.strip() == f"skip: enhance {out} (done)"
    assert snapshot(out) == before
    time.sleep(0.01)
    poison(noisy, value=1.0)  # input features rewritten: enhance again
    rc, stdout, _ = cli(capsys, *args)
    assert rc == 0 and "skip" not in stdout and snapshot(out) != before
    ev = ["eval-enhancer", "--model", fe_model, "--noisy", noisy, "--clean", clean,
          "--name", "t"]  # fmt: skip
    assert cli(capsys, *ev)[0] == 0
    metrics = (fe_model / "metrics.json").read_text()
    rc, stdout, _ = cli(capsys, *ev)
    assert rc == 0 and stdout.strip() == f"skip: eval-enhancer {fe_model} t (done)"
    assert (fe_model / "metrics.json").read_text() == metrics


def test_missing_front_end_model_names_the_file(capsys, tmp_path):
    d = make_feats_dir(tmp_path, "d", n_utt=2)
    rc, _, err = cli(capsys, "enhance", "--model", tmp_path / "nope", d, tmp_path / "o")
    assert rc == 1 and str(tmp_path / "nope" / "model.pt") in err, err
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------ decoding, scoring
@pytest.fixture(scope="module")
def trained_am(tmp_path_factory):
    from pipeline.__main__ import main

    root = tmp_path_factory.mktemp("am_model")
    data = {"train": make_feats_dir(root, "train", n_utt=8, seed=1),
            "dev": make_feats_dir(root, "dev", n_utt=2, seed=3)}  # fmt: skip
    argv = am_args(data, root / "am", tiny_config(root, epochs=1))
    assert main([str(a) for a in argv]) == 0
    return root / "am", data["dev"]


def test_decode_rerun_skips_and_bad_requests(capsys, tmp_path, trained_am):
    am, dev = trained_am
    out = tmp_path / "decode_none_dev"
    assert cli(capsys, "decode", "--am", am, dev, out)[0] == 0
    before = snapshot(out)
    rc, stdout, _ = cli(capsys, "decode", "--am", am, dev, out)
    assert rc == 0 and stdout.strip() == f"skip: decode {out} (done)"
    assert snapshot(out) == before
    rc, _, err = cli(capsys, "decode", "--am", am, "--beam", "0", dev, out)
    assert rc == 2 and "--beam" in err
    f = tmp_path / "file"
    f.write_text("x")
    rc, _, err = cli(capsys, "decode", "--am", am, dev, f)
    assert rc == 2 and str(f) in err and f.read_text() == "x"


def test_decode_with_a_dir_that_is_no_model(capsys, tmp_path, trained_am):
    _, dev = trained_am
    rc, _, err = cli(capsys, "decode", "--am", tmp_path, dev, tmp_path / "out")
    assert rc == 1 and "am.json" in err and str(tmp_path) in err, err
    assert not (tmp_path / "out").exists()


def test_score_and_report_without_inputs(capsys, tmp_path):
    (tmp_path / "exp").mkdir()
    rc, _, err = cli(capsys, "score", tmp_path / "exp")
    assert rc == 1 and "no decode dirs" in err and str(tmp_path / "exp") in err
    rc, _, err = cli(capsys, "report", tmp_path / "exp")
    assert rc == 1 and "results.json" in err, err
    assert not list((tmp_path / "exp").iterdir())


def test_score_keeps_only_the_runs_models(capsys, tmp_path):
    """Decode dirs an earlier --frontends choice left behind are not scored when
    the recipe names its AMs and front-ends."""
    for am, fe in (("mct", "none"), ("mct", "dnn"), ("mct", "old"), ("mct_old", "old")):
        d = tmp_path / "exp" / am / f"decode_{fe}_test_clean"
        d.mkdir(parents=True)
        (d / "ref").write_text("u1 bin blue at f two now\n")
        (d / "hyp").write_text("u1 bin blue at f two soon\n")
    rc, stdout, _ = cli(capsys, "score", tmp_path / "exp", "--ams", "mct",
                        "--frontends", "dnn")  # fmt: skip
    assert rc == 0, stdout
    recs = json.loads((tmp_path / "exp/results.json").read_text())
    assert {(r["am"], r["frontend"]) for r in recs} == {("mct", "none"), ("mct", "dnn")}
