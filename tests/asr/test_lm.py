"""Word n-gram LMs: our Kneser-Ney estimate is a proper distribution, its ARPA file
scores sentences in KenLM (an independent reader: flashlight-text's) exactly as
the model does, compressed WSJ0-style LMs are read, and lexicon + LM beam search
through torchaudio's ctc_decoder beats best-path decoding of a weak AM."""

from __future__ import annotations

import gzip
import math
import random
import shutil
import subprocess

import pytest

from pipeline.asr.lm import BOS, EOS, UNK, KneserNey, LMError, arpa_vocab, plain_arpa
from tests.asr.conftest import tiny_config
from tests.unix_compress import lzw_compress

WORDS = "the cat dog sat on a mat ran to house big small red san francisco".split()


def _sentences(n=400, seed=0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = [rng.choice(WORDS[:-2]) for _ in range(rng.randint(2, 8))]
        if rng.random() < 0.3:  # "francisco" frequent but only after "san"
            s += ["san", "francisco"]
        out.append(s)
    return out


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_kneser_ney_sums_to_one(order):
    lm = KneserNey(_sentences(), order=order)
    for ctx in [(), ("the",), ("san",), ("the", "cat"), ("zzz", "cat"), (BOS,),
                (BOS, "the"), ("big", "small", "red")]:  # fmt: skip
        total = sum(lm.prob(w, ctx) for w in lm.vocab)
        assert abs(total - 1) < 1e-9, (order, ctx, total)
        assert lm.prob(BOS, ctx) == 0.0


def test_continuation_counts_are_kneser_neys_point():
    """'francisco' is as frequent as 'san' but follows one word only: its unigram
    (continuation) probability is far below that of a word seen in many contexts."""
    lm = KneserNey(_sentences(), order=2)
    assert lm.prob("francisco") < 0.2 * lm.prob("cat")
    assert lm.prob("francisco", ("san",)) > 0.9
    assert lm.prob(UNK) > 0


def test_arpa_scores_in_kenlm_as_in_the_model(tmp_path):
    from flashlight.lib.text.decoder.kenlm import KenLM
    from flashlight.lib.text.dictionary import Dictionary

    lm = KneserNey(_sentences(), order=3)
    arpa = lm.write_arpa(tmp_path / "lm.arpa")
    assert arpa_vocab(arpa)[:3] == sorted(lm.vocab + [BOS])[:3]
    (tmp_path / "dict.txt").write_text("".join(f"{w}\n" for w in lm.vocab + [BOS]))
    words = Dictionary(str(tmp_path / "dict.txt"))
    ken = KenLM(str(arpa), words)
    rng = random.Random(5)
    for sent in _sentences(20, seed=9) + [["zzz", "cat"], ["francisco", "san"]]:
        state, total = ken.start(False), 0.0
        for w in sent + [EOS]:
            state, score = ken.score(state, words.get_index(w if w in lm.vocab else UNK))
            total += score
        assert abs(total - lm.sentence_logprob(sent)) < 1e-4 * len(sent), sent
    del rng


def test_compressed_arpa_files_are_read(tmp_path):
    """WSJ0's LMs ship compressed with Unix compress (.z); gzip'd ones too."""
    lm = KneserNey(_sentences(50), order=2)
    arpa = lm.write_arpa(tmp_path / "lm.arpa")
    gz = tmp_path / "lm_gz.arpa.gz"
    gz.write_bytes(gzip.compress(arpa.read_bytes()))
    assert arpa_vocab(gz) == arpa_vocab(arpa)
    assert plain_arpa(gz, tmp_path / "work").read_text() == arpa.read_text()
    if shutil.which("compress"):
        subprocess.run(["compress", "-c", str(arpa)], check=True,
                       stdout=open(tmp_path / "lm.z", "wb"))  # fmt: skip
    else:  # an LZW stream made in-test (the .Z format: 9-16 bit codes, block mode)
        (tmp_path / "lm.z").write_bytes(lzw_compress(arpa.read_bytes()))
    assert arpa_vocab(tmp_path / "lm.z") == arpa_vocab(arpa)
    assert plain_arpa(tmp_path / "lm.z", tmp_path / "w2").read_text() == arpa.read_text()
    (tmp_path / "bad.arpa").write_text("hello\nworld\n")
    with pytest.raises(LMError, match="bad.arpa: not an ARPA file"):
        arpa_vocab(tmp_path / "bad.arpa")


def test_make_lm_cli_and_lm_decoding_beats_best_path(tmp_path, feats_dirs, capsys):
    """A character AM trained briefly (weak) on the GRID-like fixture; decoding dev
    with a trigram LM of the training transcripts cuts its WER well below best
    path, and every hypothesis word is an LM word."""
    from pipeline.__main__ import main

    exp = tmp_path / "am"
    conf = tiny_config(tmp_path, epochs=4, token_type="char")
    assert main(["train-am", "--config", str(conf), "--train", str(feats_dirs["train_clean"]),
                 "--dev", str(feats_dirs["dev"]), "--out", str(exp), "--no-progress"]) == 0
    arpa = tmp_path / "lm.arpa"
    assert main(["make-lm", "--text", str(feats_dirs["train_clean"] / "text"),
                 "--order", "3", "--out", str(arpa)]) == 0
    vocab = set(arpa_vocab(arpa))
    dev = feats_dirs["dev"]
    assert main(["decode", "--am", str(exp), str(dev), str(tmp_path / "free")]) == 0
    assert main(["decode", "--am", str(exp), "--lm", str(arpa), "--lm-weight", "1.0",
                 "--word-score", "0", str(dev), str(tmp_path / "lm")]) == 0
    out = capsys.readouterr().out
    wer = {}
    for name in ("free", "lm"):
        line = (tmp_path / name / "wer").read_text()
        wer[name] = float(line.split()[1])
    assert wer["lm"] < wer["free"] - 10, (wer, out)
    hyp_words = {w for ln in (tmp_path / "lm/hyp").read_text().splitlines()
                 for w in ln.split()[1:]}  # fmt: skip
    assert hyp_words <= vocab
    # a finished LM decode is skipped; another LM weight is not the same decode
    assert main(["decode", "--am", str(exp), "--lm", str(arpa), "--lm-weight", "1.0",
                 str(dev), str(tmp_path / "lm")]) == 0
    assert "skip: decode" in capsys.readouterr().out
    assert main(["decode", "--am", str(exp), "--lm", str(arpa), "--lm-weight", "0.5",
                 str(dev), str(tmp_path / "lm")]) == 0
    assert "skip" not in capsys.readouterr().out
    assert main(["decode", "--am", str(exp), "--lm", str(arpa), "--grammar", "grid",
                 str(dev), str(tmp_path / "x")]) == 2
    assert main(["decode", "--am", str(exp), "--lm", str(tmp_path / "nope.arpa"),
                 str(dev), str(tmp_path / "x")]) == 2
    assert math.isfinite(wer["lm"]) and not (tmp_path / "x").exists()
    print("WER best path / LM:", wer)
