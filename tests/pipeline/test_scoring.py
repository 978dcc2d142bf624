"""WER / keyword accuracy against hand-computed cases; results.json; report."""

from __future__ import annotations

import json

import pytest

import numpy as np

from pipeline.scoring import (COMPARISON_KEYS, N_BOOT, RESULT_KEYS, error_counts,
                              keyword_accuracy, paired_bootstrap, score_exp,
                              utt_errors, wer_interval, wer_line,
                              write_decode_scores, write_report)  # fmt: skip

REF = {"u1": "bin blue at f two now", "u2": "lay red by a one soon"}


def test_wer_perfect():
    c = error_counts(REF, dict(REF))
    assert (c["wer"], c["n_err"], c["n_words"]) == (0.0, 0, 12)


def test_wer_ins_del_sub():
    hyp = {
        "u1": "bin blue at f two now please",   # 1 insertion
        "u2": "lay by b one soon",              # 1 deletion (red), 1 sub (a->b)
    }  # fmt: skip
    c = error_counts(REF, hyp)
    assert (c["ins"], c["dels"], c["sub"], c["n_err"], c["n_words"]) == (1, 1, 1, 3, 12)
    assert c["wer"] == pytest.approx(25.0)
    assert wer_line(c) == "%WER 25.00 [ 3 / 12, 1 ins, 1 del, 1 sub ]"


def test_wer_empty_and_missing_hypothesis():
    c = error_counts(REF, {"u1": ""})  # u1 empty, u2 missing: all deletions
    assert (c["dels"], c["n_err"], c["wer"]) == (12, 12, 100.0)


def test_wer_empty_reference_set_is_error():
    with pytest.raises(ValueError):
        error_counts({}, {"u1": "bin"})
    with pytest.raises(ValueError):
        keyword_accuracy({}, {})


def test_keyword_accuracy_hand_computed():
    # keywords: f two | a one (4). u1: 'f' substituted by 's', 'two' right;
    # u2: 'red' deleted, 'a' right, 'one' -> 'on' wrong => 2 / 4 correct
    hyp = {"u1": "bin blue at s two now", "u2": "lay by a on soon"}
    assert keyword_accuracy(REF, hyp) == pytest.approx(50.0)
    assert keyword_accuracy(REF, {"u1": "", "u2": ""}) == 0.0
    assert keyword_accuracy(REF, REF) == 100.0
    # an insertion before the keywords must not shift the alignment
    assert keyword_accuracy({"u": "set white in k nine again"},
                            {"u": "set set white in k nine again"}) == 100.0


def test_keyword_accuracy_no_keywords_is_error():
    with pytest.raises(ValueError):
        keyword_accuracy({"u": "the cat sat"}, {"u": "the cat sat"})


def _decode_dir(root, am, fe, test, hyp, snr=None):
    d = root / am / f"decode_{fe}_{test}"
    write_decode_scores(d, REF, hyp)
    if snr is not None:
        (d / "utt2snr").write_text("".join(f"{u} {snr}\n" for u in REF))
    return d


def test_write_decode_scores_files(tmp_path):
    d = _decode_dir(tmp_path, "clean", "none", "test_clean", {"u1": "bin blue"})
    assert (d / "hyp").read_text() == "u1 bin blue\nu2\n"   # every utt present
    assert (d / "ref").read_text().splitlines()[0] == "u1 bin blue at f two now"
    assert (d / "wer").read_text() == "%WER 83.33 [ 10 / 12, 0 ins, 10 del, 0 sub ]\n"


def test_results_json_schema_and_report(tmp_path):
    _decode_dir(tmp_path, "clean", "none", "test_clean", dict(REF))
    for snr, hyp in ((0, {"u1": "bin blue at f two", "u2": "lay red by a one soon"}),
                     (6, dict(REF))):
        _decode_dir(tmp_path, "clean", "none", f"test_noisy_{snr}dB", hyp, snr)
        _decode_dir(tmp_path, "clean", "dnn", f"test_noisy_{snr}dB", dict(REF), snr)
    _decode_dir(tmp_path, "mct", "none", "test_noisy_0dB", dict(REF), 0)
    records = score_exp(tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data == records and len(data) == 8  # 6 decode dirs + 2 pooled
    for r in data:
        assert set(r) - {"pooled"} == set(RESULT_KEYS)
        assert isinstance(r["wer"], float) and isinstance(r["n_words"], int)
        lo, hi = r["wer_ci95"]
        assert lo <= r["wer"] <= hi and r["n_utts"] == 2 and r["seed"] == 0
    pooled = [r for r in data if r["test_set"] == "noisy_avg"]
    assert {(r["am"], r["frontend"]) for r in pooled} == {("clean", "none"),
                                                          ("clean", "dnn")}
    p = next(r for r in pooled if r["frontend"] == "none")
    assert p["pooled"] == ["test_noisy_0dB", "test_noisy_6dB"]
    assert p["wer"] == round((100 / 12 + 0.0) / 2, 2) and p["n_err"] == 1
    comps = json.loads((tmp_path / "comparisons.json").read_text())
    assert comps and all(set(c) == set(COMPARISON_KEYS) for c in comps)
    c = next(c for c in comps if c["test_set"] == "noisy_avg")
    assert (c["am"], c["frontend"], c["ref_am"], c["ref_frontend"]) == (
        "clean", "dnn", "clean", "none")
    assert c["delta"] == pytest.approx(-4.17, abs=0.01)
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert len(rows) == 9 and rows[0].startswith("am,frontend,test_set,snr_db,wer")
    r0 = next(r for r in data if r["test_set"] == "test_noisy_0dB"
              and r["am"] == "clean" and r["frontend"] == "none")  # fmt: skip
    assert r0["snr_db"] == 0.0 and r0["n_err"] == 1 and r0["keyword_acc"] == 100.0
    clean = next(r for r in data if r["test_set"] == "test_clean")
    assert clean["snr_db"] is None
    meta = json.loads((tmp_path / "results.meta.json").read_text())
    assert "packages" in meta
    (tmp_path / "mct" / "train_log.txt").write_text(
        "epoch: 1, lr: 6e-03 - train loss: 2.5 - valid loss: 1.6, valid WER: 60.10\n"
        "epoch: 2, lr: 5e-03 - train loss: 1.3 - valid loss: 1.4, valid WER: 49.70\n"
        "epoch: 3, lr: 4e-03 - train loss: 1.1 - valid loss: 1.3, valid WER: 7.60e-01\n")
    (tmp_path / "enhance" / "dnn").mkdir(parents=True)
    (tmp_path / "enhance" / "dnn" / "metrics.json").write_text(json.dumps(
        {"history": [{"epoch": 1, "dev_loss": 0.5}, {"epoch": 2, "dev_loss": 0.6}]}))
    report = write_report(tmp_path).read_text()
    assert "## AM `clean`" in report and "## AM `mct`" in report
    assert "| mct | 60.10 | 49.70 | **0.76** |" in report  # dev curve, kept epoch bold
    assert "| dnn | **0.5000** | 0.6000 |" in report
    assert "-100.0%" in report  # dnn avg 0 vs none avg 4.17
    assert "±" in report and "## Significance" in report
    tex = (tmp_path / "report.tex").read_text()
    assert "\\toprule" in tex and "\\pm" in tex and "\\bottomrule" in tex
    assert (tmp_path / "wer_vs_snr.png").stat().st_size > 1000


def test_report_names_each_am_input(tmp_path):
    """The report says what each AM saw (am.json's feats_type, via results.meta.json):
    pasted features are named as such, and so is the AM a model started from."""
    _decode_dir(tmp_path, "clean", "none", "test_noisy_0dB", dict(REF), 0)
    _decode_dir(tmp_path, "mct", "none", "test_noisy_0dB", dict(REF), 0)
    _decode_dir(tmp_path, "mct_dnn", "dnn", "test_noisy_0dB", dict(REF), 0)
    for am, kind, dim in (("clean", "fbank", 40), ("mct", "fbank", 40),
                          ("mct_dnn", "fbank+fbank", 80)):
        (tmp_path / am / "hparams.yaml").write_text("seed: 0\n")
        (tmp_path / am / "am.json").write_text(json.dumps(
            {"seed": 0, "feat_dim": dim, "feats_type": kind}))
    score_exp(tmp_path)
    meta = json.loads((tmp_path / "results.meta.json").read_text())
    assert meta["acoustic_models"]["mct_dnn"]["feats_type"] == "fbank+fbank"
    report = write_report(tmp_path).read_text()
    assert ("AM inputs: `clean`, `mct`: fbank, 40-d; `mct_dnn`: fbank+fbank, 80-d "
            "(the front-end's output pasted beside the unprocessed features).") in report
    for am in ("mct", "mct_dnn"):  # train-am --init (the recipe's --mct-init base)
        info = json.loads((tmp_path / am / "am.json").read_text())
        info.update(init=str(tmp_path / "mct_base"), epochs=5)
        (tmp_path / am / "am.json").write_text(json.dumps(info))
    score_exp(tmp_path)
    report = write_report(tmp_path).read_text()
    assert ("(the front-end's output pasted beside the unprocessed features); `mct`, "
            "`mct_dnn` fine-tuned from `mct_base` for 5 epochs.") in report


def test_score_without_decodes_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        score_exp(tmp_path)


# -------------------------------------------------------------------- bootstrap
def _slow_interval(err, words, n_boot=N_BOOT, seed=0):
    """Pure-Python percentile bootstrap over the same utterance draws."""
    n = len(err)
    idx = np.random.default_rng([seed, n]).integers(0, n, size=(n_boot, n)).tolist()
    wers = []
    for row in idx:
        e = sum(int(err[i]) for i in row)
        w = sum(int(words[i]) for i in row)
        wers.append(100.0 * e / w)
    wers.sort()

    def pct(q):  # numpy's default (linear) percentile
        pos = (len(wers) - 1) * q / 100
        lo = int(pos)
        hi = min(lo + 1, len(wers) - 1)
        return wers[lo] + (wers[hi] - wers[lo]) * (pos - lo)

    return pct(2.5), pct(97.5)


def test_interval_matches_slow_reference():
    rng = np.random.default_rng(5)
    words = rng.integers(3, 12, 150)
    err = rng.binomial(words, 0.2)
    lo, hi = wer_interval(err, words)
    rlo, rhi = _slow_interval(err, words)
    assert lo == pytest.approx(rlo, abs=1e-9) and hi == pytest.approx(rhi, abs=1e-9)
    point = 100 * err.sum() / words.sum()
    assert lo < point < hi
    # the normal approximation of a binomial corpus WER gives about the same width
    se = 100 * np.sqrt(np.sum((err - point / 100 * words) ** 2)) / words.sum()
    assert (hi - lo) / 2 == pytest.approx(1.96 * se, rel=0.15)


def test_paired_hand_checked_two_utterances():
    """Two one-word utterances: the system gets both right, the reference errs on
    the first. Resamples {AA, AB, BB} have probabilities 1/4, 1/2, 1/4 and deltas
    -100, -50, 0: p(improvement) = 3/4 + 1/2 * 1/4 = 0.875 (ties count half)."""
    words = np.array([1, 1])
    c = paired_bootstrap(np.array([0, 0]), words, np.array([1, 0]), words)
    assert c["p_improvement"] == pytest.approx(0.875, abs=0.03)
    assert c["delta"] == -50.0 and c["delta_ci95"] == [-100.0, 0.0]
    # errs on A vs errs on B: deltas +100, 0, -100 -> p = 1/4 + 1/2 * 1/2 = 0.5
    c = paired_bootstrap(np.array([1, 0]), words, np.array([0, 1]), words)
    assert c["p_improvement"] == pytest.approx(0.5, abs=0.03)


def test_paired_identical_and_clearly_better():
    rng = np.random.default_rng(1)
    words = rng.integers(4, 10, 300)
    err = rng.binomial(words, 0.3)
    same = paired_bootstrap(err, words, err.copy(), words)
    assert same["p_improvement"] == 0.5 and same["delta"] == 0.0
    assert same["delta_ci95"][0] <= 0 <= same["delta_ci95"][1]
    better = rng.binomial(words, 0.15)
    c = paired_bootstrap(better, words, err, words)
    assert c["p_improvement"] > 0.99 and c["delta_ci95"][1] < 0
    worse = paired_bootstrap(err, words, better, words)
    assert worse["p_improvement"] < 0.01
    with pytest.raises(ValueError):
        paired_bootstrap(err[:10], words[:10], err, words)


def test_pooled_interval_resamples_utterances_jointly():
    """Six SNR sets of the same utterances with the same errors (correlation 1):
    the pooled interval is as wide as one set's. Resampling each set on its own
    would shrink it by about sqrt(6)."""
    rng = np.random.default_rng(2)
    words = rng.integers(4, 10, 200)
    err = rng.binomial(words, 0.25)
    one = wer_interval(err, words)
    joint = wer_interval(np.tile(err, (6, 1)), np.tile(words, (6, 1)))
    assert joint == pytest.approx(one)
    indep = [wer_interval(err, words, seed=s) for s in range(6)]
    assert (joint[1] - joint[0]) > 0.9 * np.mean([h - lo for lo, h in indep])


def test_utt_errors_sum_to_corpus_counts():
    hyp = {"u1": "bin blue at f two now please", "u2": "lay by b one soon"}
    u = utt_errors(REF, hyp)
    assert list(u["utts"]) == ["u1", "u2"]
    assert list(u["ins"]) == [1, 0] and list(u["dels"]) == [0, 1]
    assert list(u["sub"]) == [0, 1] and list(u["n_words"]) == [6, 6]


@pytest.mark.parametrize("with_meta", [True, False])
def test_frontend_names_with_underscores(tmp_path, with_meta):
    """``decode_gan_recon_test_noisy_0dB`` is front-end ``gan_recon``, test set
    ``test_noisy_0dB`` (not ``gan`` / ``recon_test_noisy_0dB``), from decode.json
    or, without it, by the test-set name; and gan is compared with gan_recon."""
    for am, fe in (("mct", "gan"), ("mct", "gan_recon"), ("mct_gan", "gan"),
                   ("mct_gan_recon", "gan_recon"), ("mct", "none")):
        d = _decode_dir(tmp_path, am, fe, "test_noisy_0dB", dict(REF), 0)
        if with_meta:
            (d / "decode.json").write_text(json.dumps(
                {"frontend": fe, "test_set": "test_noisy_0dB"}))
    recs = score_exp(tmp_path)
    names = {(r["am"], r["frontend"], r["test_set"]) for r in recs}
    assert ("mct", "gan_recon", "test_noisy_0dB") in names
    assert ("mct_gan_recon", "gan_recon", "test_noisy_0dB") in names
    assert not any("recon_test" in r["test_set"] for r in recs)
    comps = json.loads((tmp_path / "comparisons.json").read_text())
    pairs = {(c["am"], c["frontend"], c["ref_am"], c["ref_frontend"]) for c in comps}
    assert ("mct", "gan", "mct", "gan_recon") in pairs
    assert ("mct_gan", "gan", "mct_gan_recon", "gan_recon") in pairs
    assert ("mct_gan_recon", "gan_recon", "mct", "none") in pairs
    report = write_report(tmp_path).read_text()
    assert "## Adversary ablation" in report


def test_a_system_combination_is_compared_with_mct_and_each_member(tmp_path):
    """``mct_gan+gan_recon`` / ``gan+gan_recon`` (combine-decodes) is compared with
    mct/none and with each member (its twin-named member too, in the report's
    significance table: only X vs X_recon goes to the ablation table); it is
    ordered after the single AMs and named in the AM inputs line."""
    combo = "gan+gan_recon"
    for am, fe in (("mct", "none"), ("mct_gan", "gan"), ("mct_gan_recon", "gan_recon"),
                   (f"mct_{combo}", combo)):  # fmt: skip
        d = _decode_dir(tmp_path, am, fe, "test_clean", dict(REF), None)
        meta = {"frontend": fe, "test_set": "test_clean"}
        if "+" in fe:
            meta["member_systems"] = [["mct_gan", "gan"], ["mct_gan_recon", "gan_recon"]]
        else:  # a trained AM dir
            (d.parent / "hparams.yaml").write_text("x: 1\n")
        (d / "decode.json").write_text(json.dumps(meta))
    score_exp(tmp_path)
    comps = json.loads((tmp_path / "comparisons.json").read_text())
    pairs = {(c["am"], c["frontend"], c["ref_am"], c["ref_frontend"]) for c in comps}
    assert {(f"mct_{combo}", combo, "mct", "none"),
            (f"mct_{combo}", combo, "mct_gan", "gan"),
            (f"mct_{combo}", combo, "mct_gan_recon", "gan_recon")} <= pairs
    report = write_report(tmp_path).read_text()
    sig = report.split("## Significance")[1].split("## ")[0]
    assert f"| mct_{combo} / {combo} | mct_gan_recon / gan_recon |" in sig
    assert report.index(f"## AM `mct_{combo}`") > report.index("## AM `mct_gan_recon`")
    meta = json.loads((tmp_path / "results.meta.json").read_text())
    assert meta["acoustic_models"][f"mct_{combo}"] == {
        "combination_of": ["mct_gan", "mct_gan_recon"]}


def test_seeds_are_recorded_and_summarised(tmp_path):
    for seed_dir in (tmp_path, tmp_path / "seed1", tmp_path / "seed2"):
        for snr, hyp in ((0, {"u1": "bin blue at f two", "u2": REF["u2"]}),
                         (6, dict(REF))):
            _decode_dir(seed_dir, "mct", "none", f"test_noisy_{snr}dB", hyp, snr)
    _decode_dir(tmp_path / "seed2", "mct", "none", "test_noisy_0dB", {}, 0)
    recs = score_exp(tmp_path)
    assert {r["seed"] for r in recs} == {0, 1, 2}
    report = write_report(tmp_path).read_text()
    assert "## Seeds" in report


def test_pooled_chime2_names_and_condition_digit_ids(tmp_path):
    """CHiME-2 sets (``test_eval92_5k_noisy_0dB``) pool per split, and Track 2's
    utt-ids (WSJ id + a condition digit per SNR) pair across SNRs: the errors of
    440c0201 at 0 dB (440c02015) and at 6 dB (440c02013) are resampled together."""
    refs = {"440c0201": "the cat sat", "440c0202": "a dog ran far"}
    hyps = {0: {"440c0201": "the cat", "440c0202": "a dog ran far"},
            6: {"440c0201": "the cat sat", "440c0202": "a dog ran far"}}
    for snr, digit in ((0, 5), (6, 3)):
        d = tmp_path / "mct" / f"decode_none_test_eval92_5k_noisy_{snr}dB"
        write_decode_scores(d, {u + str(digit): t for u, t in refs.items()},
                            {u + str(digit): t for u, t in hyps[snr].items()})
        (d / "utt2snr").write_text("".join(f"{u}{digit} {snr}\n" for u in refs))
    recs = score_exp(tmp_path)
    p = next(r for r in recs if r.get("pooled"))
    assert p["test_set"] == "test_eval92_5k_noisy_avg" and p["n_utts"] == 2
    assert p["pooled"] == ["test_eval92_5k_noisy_0dB", "test_eval92_5k_noisy_6dB"]
    assert p["n_err"] == 1 and p["wer"] == round(100 / 7 / 2, 2)  # 1 of 7 words at 0 dB
    assert "0 dB" in write_report(tmp_path).read_text()
