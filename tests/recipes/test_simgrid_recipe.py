"""The quick simgrid recipe end to end (CPU), plus independent checks of its output:
coreutils' C-locale sort checks (as Kaldi's validate_data_dir.sh does them) and
lhotse's Kaldi importer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from pipeline.features import compute_fbank
from pipeline.audio import read_audio

REPO = Path(__file__).resolve().parents[2]
SNRS = ["m6dB", "m3dB", "0dB", "3dB", "6dB", "9dB"]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    """Copy recipes/ to a temp dir and run the whole quick recipe there."""
    root = tmp_path_factory.mktemp("recipe")
    shutil.copytree(REPO / "recipes", root / "recipes",
                    ignore=shutil.ignore_patterns("data", "exp", "corpus"))  # fmt: skip
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    r = subprocess.run(
        ["bash", str(root / "recipes/simgrid/run.sh"), "--quick", "true", "--nj", "2"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    (root / "run.log").write_text(r.stderr)  # the console: the jobs' start/done lines
    return root / "recipes/simgrid"


def _data_dirs(recipe: Path) -> list[Path]:
    names = [f"{s}_{v}" for s in ("train", "dev", "test")
             for v in ("clean", "reverb", "noisy")]  # fmt: skip
    names += ["train_noisy2", "train_noisy3"]
    names += [f"{s}_noisy_{snr}" for s in ("dev", "test") for snr in SNRS]
    return [recipe / "data" / n for n in names]


def test_contract_data_dirs_with_features(recipe):
    for d in _data_dirs(recipe):
        assert (d / "feats.scp").is_file(), d
        assert (d / "cmvn.scp").is_file(), d
    for split in ("train", "dev", "test"):
        ids = [(recipe / f"data/{split}_{v}/utt2spk").read_text()
               for v in ("clean", "reverb", "noisy")]  # fmt: skip
        assert ids[0] == ids[1] == ids[2]


def test_mct_ams_train_on_every_noisy_copy(recipe):
    """The MCT AMs train on clean + reverb + the three noisy copies of train, the
    mct_<fe> AMs on the same dirs through their front-end, pasted beside the
    unprocessed features (--fe-am-input paste, simgrid's default): 80-d, each
    utterance's enhanced then unprocessed fbank, fine-tuned from mct_base as mct
    is, and are decoded the same way."""
    import json

    sets = ["train_clean", "train_reverb", "train_noisy", "train_noisy2", "train_noisy3"]
    am = json.loads((recipe / "exp/mct/am.json").read_text())
    assert [Path(p).name for p in am["train"]] == sets
    assert json.loads((recipe / "exp/mct_base/am.json").read_text())["train"] == am["train"]
    assert (am["feat_dim"], am["feats_type"]) == (40, "fbank")
    am = json.loads((recipe / "exp/mct_dnn/am.json").read_text())
    assert ["/".join(Path(p).parts[-2:]) for p in am["train"]] == [
        f"paste_dnn/{s}" for s in sets]
    assert (am["feat_dim"], am["feats_type"]) == (80, "fbank+fbank")
    # --mct-init base (the default): fine-tuned from mct_base, its input weights
    # on the unprocessed half; mct from the same start, on the unprocessed set
    base = str((recipe / "exp/mct_base").resolve())
    assert (am["init"], am["init_offset"]) == (base, 40)
    am = json.loads((recipe / "exp/mct/am.json").read_text())
    assert (am["init"], am["init_offset"]) == (base, 0)
    for s in ("train_noisy3", "test_noisy_m6dB"):
        pasted = dict(kaldiio.load_scp(str(recipe / f"data/paste_dnn/{s}/feats.scp")))
        enh = dict(kaldiio.load_scp(str(recipe / f"data/enh_dnn/{s}/feats.scp")))
        raw = dict(kaldiio.load_scp(str(recipe / f"data/{s}/feats.scp")))
        assert pasted.keys() == raw.keys()
        u = sorted(pasted)[0]
        np.testing.assert_array_equal(pasted[u], np.concatenate([enh[u], raw[u]], 1))
    dec = json.loads((recipe / "exp/mct_dnn/decode_dnn_test_noisy_0dB/decode.json")
                     .read_text())  # fmt: skip
    assert Path(dec["data_dir"]).parent.name == "paste_dnn"
    dec = json.loads((recipe / "exp/mct/decode_dnn_test_noisy_0dB/decode.json").read_text())
    assert Path(dec["data_dir"]).parent.name == "enh_dnn"  # mct sees the front-end alone
    inputs = (recipe / "exp/report.md").read_text().split("AM inputs: ")[1].split("\n")[0]
    assert "`mct_dnn`" in inputs and "fine-tuned from `mct_base`" in inputs


def test_report_and_contract_layout(recipe):
    import json

    exp = recipe / "exp"
    fes = ("dnn", "lstm", "gan", "gan_recon")
    for fe in fes:
        assert (exp / "enhance" / fe / "model.pt").is_file()
        assert (recipe / "data" / f"enh_{fe}" / "test_noisy_0dB" / "feats.scp").is_file()
    combo = "+".join(fes)  # the system combination of the mct_<fe> AMs
    ams = ["clean", "mct"] + [f"mct_{fe}" for fe in fes] + [f"mct_{combo}"]
    sets = ["test_clean", "test_reverb"] + [f"test_noisy_{x}" for x in SNRS]
    for am in ams:
        for s in sets:
            d = exp / am / f"decode_{'none' if am in ('clean', 'mct') else am[4:]}_{s}"
            assert (d / "hyp").is_file() and (d / "ref").is_file(), d
            assert (d / "wer").read_text().startswith("%WER ")
    records = json.loads((exp / "results.json").read_text())
    keys = {"am", "frontend", "test_set", "snr_db", "wer", "n_words", "n_err",
            "keyword_acc", "wer_ci95", "n_utts", "seed"}  # fmt: skip
    assert all(set(r) - {"pooled"} == keys for r in records)
    assert {r["am"] for r in records} == set(ams)
    n_pairs = 2 * (1 + len(fes)) + len(fes) + 1  # (AM, front-end) pairs
    decoded = [r for r in records if "pooled" not in r]
    assert len(decoded) == len(sets) * n_pairs
    pooled = [r for r in records if "pooled" in r]
    assert len(pooled) == n_pairs and {r["test_set"] for r in pooled} == {"noisy_avg"}
    # front-end names with "_" are not split: gan_recon is its own front-end
    assert {r["frontend"] for r in records} == {"none", *fes, combo}
    assert {r["test_set"] for r in decoded} == set(sets)
    for r in records:
        assert r["wer_ci95"][0] <= r["wer"] <= r["wer_ci95"][1] and r["n_utts"] == 24
    snr = {r["snr_db"] for r in records if r["test_set"] == "test_noisy_m6dB"}
    assert snr == {-6.0}
    comps = json.loads((exp / "comparisons.json").read_text())
    pairs = {(c["am"], c["frontend"], c["ref_am"], c["ref_frontend"]) for c in comps}
    assert ("mct", "gan", "mct", "gan_recon") in pairs
    assert ("mct_gan", "gan", "mct_gan_recon", "gan_recon") in pairs
    assert ("mct_lstm", "lstm", "mct", "none") in pairs
    assert ("clean", "dnn", "clean", "none") in pairs
    # the combination against mct/none and against each of its members
    assert (f"mct_{combo}", combo, "mct", "none") in pairs
    assert {(f"mct_{combo}", combo, f"mct_{fe}", fe) for fe in fes} <= pairs
    csv_rows = (exp / "results.csv").read_text().splitlines()
    assert len(csv_rows) == len(records) + 1
    report = (exp / "report.md").read_text()
    assert report.startswith("# WER report")
    assert "## Adversary ablation" in report and "## Significance" in report
    assert "\\begin{tabular}" in (exp / "report.tex").read_text()
    assert (exp / "wer_vs_snr.png").stat().st_size > 10000


def test_combination_is_the_members_average(recipe):
    """Each hypothesis of the combination is, slot by slot, the word with the
    highest mean posterior over its members (read back from their slot_post.ark)."""
    from pipeline.asr.combine import read_slot_posteriors, slot_decision
    from pipeline.scoring import read_text

    exp = recipe / "exp"
    fes = ("dnn", "lstm", "gan", "gan_recon")
    combo = "+".join(fes)
    for s in ("test_clean", "test_noisy_m6dB"):
        members = [read_slot_posteriors(exp / f"mct_{fe}" / f"decode_{fe}_{s}") for fe in fes]
        meta = json.loads((exp / "mct_dnn" / f"decode_dnn_{s}" / "decode.json").read_text())
        assert (meta["phases"], meta["search"]) == (3, "grid-mbr-3phases")  # run.sh's
        hyp = read_text(exp / f"mct_{combo}" / f"decode_{combo}_{s}" / "hyp")
        assert len(hyp) == 24
        for u, h in hyp.items():
            assert h.split() == slot_decision(np.mean([m[u] for m in members], axis=0))


def test_jobs_start_when_their_inputs_are_done(recipe):
    """Stages 2-5 run as one pool: the shared MCT AM trains beside the front-ends,
    and decoding starts before the last AM is trained."""
    log = (recipe.parent.parent / "run.log").read_text().splitlines()

    def at(text):
        return next(i for i, ln in enumerate(log) if text in ln)

    assert at("start: AM mct_base") < at("done: front-end gan_recon")
    last_am = max(at(f"done: AM {am},") for am in ("clean", "mct", "mct_dnn", "mct_lstm",
                                                  "mct_gan", "mct_gan_recon"))  # fmt: skip
    assert at("start: decode") < last_am
    assert at("start: combine") > at("done: decode mct_gan_recon / gan_recon")


def test_sorted_unique_by_coreutils(recipe):
    env = {"LC_ALL": "C", "PATH": os.environ["PATH"]}
    for d in _data_dirs(recipe):
        for name in ("wav.scp", "text", "utt2spk", "spk2utt", "feats.scp", "cmvn.scp"):
            f = str(d / name)
            # sorted, and no duplicate keys (sort -u -c fails on equal keys)
            r = subprocess.run(["sort", "-c", "-u", "-k1,1", f], env=env,
                               capture_output=True, text=True)  # fmt: skip
            assert r.returncode == 0, (f, r.stderr)
        # utt2spk sorted by speaker too (Kaldi: "sort -k2 utt2spk | sort -c")
        r = subprocess.run(f"sort -s -k2,2 {d}/utt2spk | sort -c -k1,1", shell=True,
                           env=env, capture_output=True, text=True)  # fmt: skip
        assert r.returncode == 0, (d, r.stderr)


def test_lhotse_accepts_data_dirs(recipe):
    from lhotse import validate_recordings_and_supervisions
    from lhotse.kaldi import load_kaldi_data_dir

    for d in _data_dirs(recipe):
        recs, sups, feats = load_kaldi_data_dir(d, sampling_rate=16000)
        validate_recordings_and_supervisions(recs, sups)
        assert len(sups) == len((d / "utt2spk").read_text().splitlines())
        assert all(s.text for s in sups)


def test_features_match_kaldi_native_fbank(recipe):
    knf = pytest.importorskip("kaldi_native_fbank")
    d = recipe / "data/test_noisy_0dB"
    scp = dict(ln.split() for ln in (d / "feats.scp").read_text().splitlines())
    wavs = dict(ln.split(maxsplit=1) for ln in (d / "wav.scp").read_text().splitlines())
    for utt in list(scp)[:3]:
        wav, sr = read_audio(wavs[utt])
        opts = knf.FbankOptions()
        opts.frame_opts.dither = 0.0
        opts.frame_opts.samp_freq = 16000
        opts.mel_opts.num_bins = 40
        fb = knf.OnlineFbank(opts)
        fb.accept_waveform(16000, (wav * 32768).tolist())
        fb.input_finished()
        ref = np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)])
        ours = kaldiio.load_mat(scp[utt])
        assert ours.shape == ref.shape
        assert np.abs(ours - ref).max() < 1e-3
        # make-feats batches utterances: the same numbers up to float32 rounding
        # of the batched matmul (measured: at most 2e-6)
        np.testing.assert_allclose(ours, compute_fbank(wav, sr), rtol=0, atol=1e-5)


def test_quick_run_recognizes_and_says_it_is_a_smoke_test(recipe):
    """The quick corpus is big enough for its clean AM to recognize clean speech
    (a broken recognizer would not pass), and the report's first line says that
    the quick numbers are a smoke test."""
    import json

    recs = json.loads((recipe / "exp/results.json").read_text())
    wer = {(r["am"], r["frontend"], r["test_set"]): r["wer"] for r in recs}
    assert wer[("clean", "none", "test_clean")] <= 50.0, wer[("clean", "none", "test_clean")]
    first = (recipe / "exp/report.md").read_text().splitlines()[0]
    assert "smoke test" in first


def test_rerun_skips_finished_stages(recipe):
    """A rerun of a finished quick run redoes nothing: features, models, logs,
    metrics and decodes are untouched, and the console says what was skipped."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    keep = [recipe / "data/train_noisy/feats.scp", recipe / "exp/mct/log/train.log",
            recipe / "exp/mct/am.json", recipe / "exp/mct/train_log.txt",
            recipe / "exp/enhance/dnn/metrics.json", recipe / "exp/enhance/dnn/log/train.log",
            recipe / "exp/mct/decode_none_test_clean/hyp",
            recipe / "exp/mct_dnn+lstm+gan+gan_recon/decode_dnn+lstm+gan+gan_recon_test_clean/hyp",
            recipe / "data/enh_dnn/test_clean/feats.scp"]  # fmt: skip
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in keep}
    r = subprocess.run(["bash", str(recipe / "run.sh"), "--quick", "true"],
                       env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in keep} == before
    for what in ("skip: simgrid", "skip: make-feats", "skip: train-enhancer",
                 "skip: eval-enhancer", "skip: enhance", "skip: train-am", "skip: decode",
                 "skip: combine-decodes"):
        assert what in r.stderr, what


def test_readme_python_snippet_runs(recipe, tmp_path):
    """The README's Python API snippet, pasted as it is, from the repository root
    of a tree holding a quick run."""
    import re

    readme = (REPO / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert "enhance_datadir(" in code and "/tmp/" in code
    code = code.replace("/tmp/", f"{tmp_path}/")
    r = subprocess.run([sys.executable, "-c", code], cwd=recipe.parents[1],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "enh_lstm/test_noisy/feats.scp").is_file()


def test_second_training_seed(recipe):
    """--seeds 1 (stages 2-6, a subset of front-ends and AMs) writes under
    exp/seed1/ and data/seed1/, keeps seed 0's outputs, and the report gains a
    seed summary (mean and spread over seeds 0 and 1)."""
    import json

    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    before = (recipe / "exp/mct/decode_none_test_clean/hyp").read_text()
    r = subprocess.run(["bash", str(recipe / "run.sh"), "--quick", "true", "--stage", "2",
                        "--seeds", "1", "--frontends", "gan gan_recon",
                        "--ams", "mct mct_gan"],
                       env=env, capture_output=True, text=True, timeout=400)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert (recipe / "exp/seed1/enhance/gan_recon/model.pt").is_file()
    assert (recipe / "data/seed1/enh_gan/test_noisy_0dB/feats.scp").is_file()
    assert not (recipe / "exp/seed1/clean").exists()  # not in --ams
    assert (recipe / "exp/mct/decode_none_test_clean/hyp").read_text() == before
    recs = json.loads((recipe / "exp/results.json").read_text())
    s1 = {(r["am"], r["frontend"]) for r in recs if r["seed"] == 1}
    assert s1 == {("mct", "none"), ("mct", "gan"), ("mct", "gan_recon"), ("mct_gan", "gan")}
    assert json.loads((recipe / "exp/seed1/mct/am.json").read_text())["seed"] == 1
    assert "## Seeds" in (recipe / "exp/report.md").read_text()
    assert (recipe / "data/seed1/paste_gan/test_noisy_0dB/feats.scp").is_file()
    assert not (recipe / "data/seed1/paste_gan_recon").exists()  # mct_gan_recon: not asked
    bad = subprocess.run(["bash", str(recipe / "run.sh"), "--seeds", "x"], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "--seeds" in bad.stderr
    bad = subprocess.run(["bash", str(recipe / "run.sh"), "--fe-am-input", "both"],
                         env=env, capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "--fe-am-input" in bad.stderr
    bad = subprocess.run(["bash", str(recipe / "run.sh"), "--mct-init", "mct"],
                         env=env, capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2 and "--mct-init" in bad.stderr


def test_full_size_run_refuses_a_quick_runs_models(recipe):
    """A default-size run in a tree holding a quick run stops at once (exit 2)
    naming both corpora, instead of silently reusing the quick models."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    r = subprocess.run(["bash", str(recipe / "run.sh"), "--stage", "2", "--stop-stage", "2"],
                       env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "size=quick" in r.stderr and "size=default" in r.stderr
    assert (recipe / "exp/.corpus").read_text().strip() == "size=quick seed=0"


def test_unknown_frontend_is_a_usage_error(recipe):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    r = subprocess.run(["bash", str(recipe / "run.sh"), "--quick", "true",
                        "--frontends", "dnn nosuchfe"], env=env, capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "enhance_nosuchfe.yaml" in r.stderr, r.stderr


def test_readme_front_end_steps_through_the_quick_recipe(recipe):
    """"Adding a front-end" as the README says: one FeatureMapper subclass with one
    Linear layer in a new module under pipeline/enhance/, a conf file, and
    ``--frontends``; stages 2-6 train, enhance, train its AM, decode and report it
    (only this run's models in the report). Runs last: it changes the report."""
    import json

    import pipeline.enhance as pkg

    mod = Path(pkg.__path__[0]) / "linfe_recipe_test.py"
    mod.write_text(
        "from torch import nn\n"
        "from pipeline.enhance.models import FeatureMapper, register_frontend\n\n\n"
        "@register_frontend('linfe')\n"
        "class LinearMapper(FeatureMapper):\n"
        "    def __init__(self, in_dim, out_dim):\n"
        "        super().__init__(in_dim, out_dim)\n"
        "        self.lin = nn.Linear(in_dim, out_dim)\n\n"
        "    def core(self, xn, state=None):\n"
        "        return self.lin(xn), state\n")
    (recipe / "conf/enhance_linfe.yaml").write_text(
        "frontend: linfe\nframe_conf: {}\ntraining:\n  epochs: 2\n"
        "  frames_per_epoch: 20000\n  batch_size: 8\n  chunk_len: 50\n"
        .replace("frame_conf", "frontend_conf"))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    try:
        r = subprocess.run(["bash", str(recipe / "run.sh"), "--quick", "true", "--stage", "2",
                            "--frontends", "linfe", "--ams", "mct_linfe"],
                           env=env, capture_output=True, text=True, timeout=400)  # fmt: skip
    finally:
        mod.unlink()
    assert r.returncode == 0, r.stdout + r.stderr
    used = (recipe / "exp/enhance/linfe/config.yaml").read_text()
    assert "frontend: linfe" in used and "lr:" in used  # defaults recorded
    assert (recipe / "exp/mct_linfe/decode_linfe_test_clean/wer").is_file()
    recs = json.loads((recipe / "exp/results.json").read_text())
    assert {(r["am"], r["frontend"]) for r in recs} == {("mct_linfe", "linfe")}
