"""The quick simwsj recipe end to end (large vocabulary): the shared stages with
character AMs, the Kneser-Ney LM tuned on dev, decoding with and without it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_simwsj_recipe(tmp_path):
    root = tmp_path / "r"
    shutil.copytree(REPO / "recipes", root / "recipes", symlinks=False,
                    ignore=shutil.ignore_patterns("data", "exp", "corpus"))  # fmt: skip
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    rec = root / "recipes/simwsj"
    r = subprocess.run(["bash", str(rec / "run.sh"), "--quick", "true", "--frontends", "dnn"],
                       env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    exp = rec / "exp"
    best = (exp / "lm/best").read_text().split()
    assert best[0] == "lm_weight" and best[2] == "word_score"
    assert (exp / "lm/lm.arpa").read_text().startswith("\n\\data\\")
    with_lm = json.loads((exp / "results.json").read_text())
    no_lm = json.loads((exp / "nolm/results.json").read_text())
    key = {(x["am"], x["frontend"], x["test_set"]) for x in with_lm}
    assert key == {(x["am"], x["frontend"], x["test_set"]) for x in no_lm}
    assert ("mct_dnn", "dnn", "test_noisy_m6dB") in key and ("clean", "none", "test_clean") in key
    meta = json.loads((exp / "mct/decode_none_test_clean/decode.json").read_text())
    assert meta["search"] == "lexicon-lm-beam" and meta["lm"]["lm_weight"] == float(best[1])
    vocab = set((rec / "data/vocab.txt").read_text().split())
    hyp = (exp / "clean/decode_none_test_clean/hyp").read_text().split("\n")
    assert all(w in vocab for ln in hyp for w in ln.split()[1:])
    wer = {x["am"]: x["wer"] for x in with_lm
           if x["frontend"] == "none" and x["test_set"] == "test_clean"}
    wer0 = {x["am"]: x["wer"] for x in no_lm
            if x["frontend"] == "none" and x["test_set"] == "test_clean"}
    assert wer["clean"] <= wer0["clean"], (wer, wer0)  # the LM does not hurt
    assert (exp / "report.md").read_text().splitlines()[0].find("smoke test") > 0
    assert (exp / "nolm/report.md").is_file()
