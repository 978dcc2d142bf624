"""simwsj, the large-vocabulary corpus: natural sentences, a closed 5k vocabulary,
disjoint sentences and talkers across splits, simgrid's data-dir contract."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from data_prep.simwsj import SIZES, VOCAB_SIZE, normalise, sentence_pool
from pipeline.datadir import DataDir


@pytest.fixture(scope="module")
def simwsj(tmp_path_factory):
    from data_prep.simwsj import prepare_simwsj

    out = tmp_path_factory.mktemp("simwsj")
    return out, prepare_simwsj(out, size="quick", seed=0, nj=2, progress=False)


def test_text_pool_is_large_and_closed_vocabulary():
    pool, vocab = sentence_pool()
    assert len(vocab) == VOCAB_SIZE and len(pool) > 20000
    assert len(set(pool)) == len(pool)
    assert all(5 <= len(s.split()) <= 20 for s in pool)
    assert sum(SIZES["default"][s] for s in ("train", "dev", "test")) < len(pool)
    assert normalise("And God said, Let there be light: and there was light.") == [
        ["and", "god", "said", "let", "there", "be", "light"], ["and", "there", "was", "light"]]


def test_contract_dirs_splits_and_talkers(simwsj):
    out, dirs = simwsj
    for split in ("train", "dev", "test"):
        ds = [DataDir.load(dirs[f"{split}_{v}"]).validate()
              for v in ("clean", "reverb", "noisy")]  # fmt: skip
        assert ds[0].utts == ds[1].utts == ds[2].utts
        assert len(ds[0]) == SIZES["quick"][split]
    for split in ("dev", "test"):
        for tag in ("m6dB", "m3dB", "0dB", "3dB", "6dB", "9dB"):
            d = DataDir.load(dirs[f"{split}_noisy_{tag}"])
            assert set(d.tables["utt2snr"].values()) == {tag.replace("m", "-")[:-2]}
    texts = {s: set(DataDir.load(dirs[f"{s}_clean"]).text.values()) for s in
             ("train", "dev", "test")}  # fmt: skip
    assert not (texts["train"] & texts["dev"]) and not (texts["train"] & texts["test"])
    assert not (texts["dev"] & texts["test"])
    spk = {s: set(DataDir.load(dirs[f"{s}_clean"]).utt2spk.values()) for s in texts}
    assert len(spk["train"]) == 28 and len(spk["dev"]) == len(spk["test"]) == 6
    assert not (spk["train"] & spk["test"]) and not (spk["dev"] & spk["test"])
    vocab = set((out / "vocab.txt").read_text().split())
    assert all(w in vocab for t in texts["test"] for w in t.split())
    assert len({w for t in texts["train"] for w in t.split()}) > 500


def test_audio_reverb_aligned_and_no_clipping(simwsj):
    _, dirs = simwsj
    c, r = DataDir.load(dirs["test_clean"]), DataDir.load(dirs["test_reverb"])
    for u in c.utts[:6]:
        x, sr = sf.read(c.wav_scp[u])
        y, _ = sf.read(r.wav_scp[u])
        assert sr == 16000 and len(x) == len(y) and 1.0 < len(x) / sr < 12
        lag = np.argmax(np.correlate(y, x, "full")[len(x) - 200: len(x) + 200]) - 199
        assert abs(lag) <= 1
        assert np.max(np.abs(x)) < 1.0


def test_cli_skips_a_finished_corpus(simwsj, capsys):
    from data_prep.__main__ import main

    out, _ = simwsj
    assert main(["simwsj", str(out), "--size", "quick"]) == 0
    assert capsys.readouterr().out.strip() == f"skip: simwsj {out} (done)"
