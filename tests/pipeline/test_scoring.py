"""WER / keyword accuracy against hand-computed cases; results.json; report."""

from __future__ import annotations

import json

import pytest

from pipeline.scoring import (RESULT_KEYS, error_counts, keyword_accuracy,
                              score_exp, wer_line, write_decode_scores,
                              write_report)  # fmt: skip

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
    assert data == records and len(data) == 6
    for r in data:
        assert set(r) == set(RESULT_KEYS)
        assert isinstance(r["wer"], float) and isinstance(r["n_words"], int)
    r0 = next(r for r in data if r["test_set"] == "test_noisy_0dB"
              and r["am"] == "clean" and r["frontend"] == "none")  # fmt: skip
    assert r0["snr_db"] == 0.0 and r0["n_err"] == 1 and r0["keyword_acc"] == 100.0
    clean = next(r for r in data if r["test_set"] == "test_clean")
    assert clean["snr_db"] is None
    meta = json.loads((tmp_path / "results.meta.json").read_text())
    assert "packages" in meta
    report = write_report(tmp_path).read_text()
    assert "## AM `clean`" in report and "## AM `mct`" in report
    assert "-100.0%" in report  # dnn avg 0 vs none avg 4.17
    assert (tmp_path / "wer_vs_snr.png").stat().st_size > 1000


def test_score_without_decodes_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        score_exp(tmp_path)
