"""System combination of GRID decodes (pipeline.asr.combine, combine-decodes):
slot posteriors averaged per utterance, each slot's most probable word."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from pipeline.asr.combine import (N_GRID_WORDS, combine_decodes, read_slot_posteriors,
                                  slot_decision, slot_vector, write_slot_posteriors)
from pipeline.datadir import DataDirError
from pipeline.grid import SLOTS
from pipeline.scoring import write_decode_scores

REF = {"s1_a": "bin blue at f two now", "s1_b": "lay red by a one soon",
       "s2_c": "set white in z nine again"}  # fmt: skip


def _vec(words: str, confidence: float) -> np.ndarray:
    """Slot posteriors putting ``confidence`` on each slot's word of ``words`` and
    the rest spread evenly over the slot's other words."""
    post = []
    for slot, w in zip(SLOTS, words.split()):
        p = np.full(len(slot), (1 - confidence) / (len(slot) - 1))
        p[slot.index(w)] = confidence
        post.append(p)
    return slot_vector(post, [list(s) for s in SLOTS])


def _decode_dir(root, system: str, test_set: str, posts: dict, refs=REF):
    """A finished GRID decode dir of ``system`` (hyp = each slot's argmax)."""
    d = root / system / f"decode_x_{test_set}"
    write_decode_scores(d, refs, {u: " ".join(slot_decision(v)) for u, v in posts.items()})
    write_slot_posteriors(d, posts)
    (d / "utt2snr").write_text("".join(f"{u} -6\n" for u in sorted(refs)))
    (d / "decode.json").write_text(json.dumps(dict(am=system, frontend="x",
                                                   test_set=test_set)))  # fmt: skip
    return d


def test_slot_vector_layout_and_decision():
    v = _vec("bin blue at f two now", 0.7)
    assert v.shape == (N_GRID_WORDS,) == (51,)
    assert slot_decision(v) == "bin blue at f two now".split()
    # an AM without some words (never in its training text): 0 for them
    w = slot_vector([np.array([0.4, 0.6])] + [np.ones(len(s)) / len(s) for s in SLOTS[1:]],
                    [["lay", "set"]] + [list(s) for s in SLOTS[1:]])  # fmt: skip
    assert w[:4].tolist() == pytest.approx([0.0, 0.4, 0.0, 0.6])


def test_combination_averages_the_slot_posteriors(tmp_path):
    # system a is sure of the wrong letter in s1_a, b unsure of the right one:
    # the average of (0.6 on "g") and (0.9 on "f") picks "f"; each system
    # alone gets one utterance wrong, the combination none
    a = {"s1_a": _vec("bin blue at g two now", 0.6), "s1_b": _vec(REF["s1_b"], 0.9),
         "s2_c": _vec("set white in z five again", 0.5)}
    b = {"s1_a": _vec(REF["s1_a"], 0.9), "s1_b": _vec("lay red by a one now", 0.55),
         "s2_c": _vec(REF["s2_c"], 0.8)}
    da = _decode_dir(tmp_path, "mct_a", "test_noisy_m6dB", a)
    db = _decode_dir(tmp_path, "mct_b", "test_noisy_m6dB", b)
    out = tmp_path / "mct_a+b" / "decode_a+b_test_noisy_m6dB"
    c = combine_decodes(out, [da, db])
    assert c["n_err"] == 0 and c["n_words"] == 18
    hyp = dict(ln.split(maxsplit=1) for ln in (out / "hyp").read_text().splitlines())
    assert hyp == REF
    comb = read_slot_posteriors(out)
    for u in REF:
        np.testing.assert_allclose(comb[u], (a[u] + b[u]) / 2, rtol=1e-6)
    meta = json.loads((out / "decode.json").read_text())
    assert (meta["am"], meta["frontend"], meta["test_set"]) == ("mct_a+b", "a+b",
                                                               "test_noisy_m6dB")  # fmt: skip
    assert meta["member_systems"] == [["mct_a", "x"], ["mct_b", "x"]]
    assert (out / "utt2snr").read_text() == (da / "utt2snr").read_text()
    # an utterance one system could not decode (too short): the others decide
    del a["s2_c"]
    da2 = _decode_dir(tmp_path, "mct_c", "test_noisy_m6dB", a)
    combine_decodes(tmp_path / "comb2", [da2, db])
    assert read_slot_posteriors(tmp_path / "comb2")["s2_c"] == pytest.approx(b["s2_c"])


def test_combination_refuses_what_it_cannot_combine(tmp_path):
    a = {u: _vec(t, 0.8) for u, t in REF.items()}
    da = _decode_dir(tmp_path, "mct_a", "test_clean", a)
    other = _decode_dir(tmp_path, "mct_b", "test_reverb", a)
    with pytest.raises(DataDirError, match="another test set"):
        combine_decodes(tmp_path / "out", [da, other])
    (other / "slot_post.ark").unlink()
    bad = _decode_dir(tmp_path, "mct_c", "test_clean", a)
    (bad / "slot_post.ark").unlink()
    with pytest.raises(DataDirError, match="slot_post.ark.*--grammar grid|"
                                           "--grammar grid.*slot_post.ark"):  # fmt: skip
        combine_decodes(tmp_path / "out", [da, bad])
    assert not (tmp_path / "out" / "decode.json").exists()


def test_cli_sets_and_skip(tmp_path):
    dirs = []
    for name, conf in (("mct_a", 0.7), ("mct_b", 0.6)):
        for ts in ("test_clean", "test_noisy_0dB"):
            d = _decode_dir(tmp_path, name, ts, {u: _vec(t, conf) for u, t in REF.items()})
        dirs.append(str(d.parent / "decode_x"))
    out = tmp_path / "mct_a+b" / "decode_a+b"
    cmd = [sys.executable, "-m", "pipeline", "combine-decodes", "--out", str(out), *dirs,
           "--sets", "test_clean test_noisy_0dB"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for ts in ("test_clean", "test_noisy_0dB"):
        assert (tmp_path / "mct_a+b" / f"decode_a+b_{ts}" / "wer").read_text().startswith(
            "%WER 0.00 [ 0 / 18")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.count("skip: combine-decodes") == 2, r.stdout
    r = subprocess.run(cmd[:7], capture_output=True, text=True, timeout=120)  # one dir
    assert r.returncode == 2 and "at least two" in r.stderr
