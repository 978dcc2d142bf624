import numpy as np
import pytest

from pipeline.asr.grammar import GridMBRSearch, GridSearch, snap_to_grid
from pipeline.grid import SLOTS, VOCAB, is_grid


def test_vocab():
    assert len(VOCAB) == 51 and len(SLOTS) == 6
    assert is_grid("bin blue at f two now".split())
    assert not is_grid("the cat".split())


def test_snap_to_grid():
    assert snap_to_grid("bin blu at f tw now".split()) == "bin blue at f two now".split()
    # an extra word is dropped, a missing slot stays empty
    assert snap_to_grid("bin blue blue at f two now".split()) == "bin blue at f two now".split()  # noqa: E501
    assert snap_to_grid("lay red a one".split()) == "lay red a one".split()
    assert snap_to_grid([]) == []


def _ctc_score(lp, n, ids, reduce=max):
    """CTC score of label sequence ``ids`` (topology: blanks optional between
    different labels) by the textbook DP: ``reduce=max`` the best single
    alignment's log-prob (Viterbi), ``np.logaddexp.reduce`` the log-prob summed
    over every alignment (forward)."""
    ext = [0]
    for i in ids:
        ext += [i, 0]
    S = len(ext)
    a = np.full(S, -np.inf)
    a[0], a[1] = lp[0, 0], lp[0, ext[1]]
    for t in range(1, n):
        b = np.full(S, -np.inf)
        for s in range(S):
            terms = [a[s]]
            if s >= 1:
                terms.append(a[s - 1])
            if s >= 2 and ext[s] != 0 and ext[s] != ext[s - 2]:
                terms.append(a[s - 2])
            b[s] = reduce(terms) + lp[t, ext[s]]
        a = b
    return reduce([a[-1], a[-2]])


SMALL_SLOTS = [("a", "b"), ("c", "d", "e"), ("f", "g")]  # a 3-slot grammar
SMALL_UNITS = ["<blank>", "a", "b", "c", "d", "e", "f", "g", "x"]


def _random_posteriors(seed, B=12, T=9):
    """Random CTC log posteriors over SMALL_UNITS and lengths: the first
    utterance of full length, the second too short for three words."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(B, T, len(SMALL_UNITS))) * 2
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    lens = rng.integers(3, T + 1, B)
    lens[0], lens[1] = T, 2
    return lp, lens


def test_grid_search_equals_brute_force_on_a_small_grammar():
    """The batched automaton Viterbi picks the sentence whose best CTC alignment
    scores highest among every sentence of the grammar (checked exhaustively on
    a 3-slot grammar, random posteriors, utterances of different lengths)."""
    import itertools

    slots, units = SMALL_SLOTS, SMALL_UNITS
    search = GridSearch(units, slots)
    lp, lens = _random_posteriors(0)
    got = search(lp, lens)
    for b in range(len(lp)):
        if lens[b] < len(slots):
            assert got[b] == []
            continue
        scores = {sent: _ctc_score(lp[b], lens[b], [units.index(w) for w in sent])
                  for sent in itertools.product(*slots)}  # fmt: skip
        best = max(scores, key=scores.get)
        assert tuple(got[b]) == best, (b, got[b], best)


def test_grid_search_needs_the_grid_words():
    with pytest.raises(ValueError, match="word-level AM"):
        GridSearch(["<blank>", "a", "b"])
    partial = GridSearch(["<blank>", "bin", "lay", "blue", "at", "a", "b", "one", "now"])
    assert "set" in partial.missing and partial.slots[0] == ("bin", "lay")
    units = ["<blank>"] + sorted(VOCAB)
    search = GridSearch(units)
    # posteriors that spell "bin blue at f two now" frame by frame
    sent = "bin blue at f two now".split()
    lp = np.full((1, 12, len(units)), -10.0)
    for t in range(12):
        lp[0, t, units.index(sent[t // 2]) if t % 2 == 0 else 0] = 0.0
    assert search(lp, np.array([12])) == [sent]


def test_grid_mbr_slot_posteriors_equal_brute_force():
    """Each slot posterior of the forward-backward pass equals the sum, over every
    sentence of the grammar with that word in that slot, of the sentence's CTC
    probability (every alignment), normalised over all sentences; the decision is
    each slot's argmax (exhaustive on a 3-slot grammar, random posteriors)."""
    import itertools

    slots, units = SMALL_SLOTS, SMALL_UNITS
    search = GridMBRSearch(units, slots)
    lp, lens = _random_posteriors(1)
    post = search.slot_posteriors(lp, lens)
    got = search(lp, lens)
    n_differ = 0
    for b in range(len(lp)):
        if lens[b] < len(slots):
            assert post[b] is None and got[b] == []
            continue
        scores = {sent: _ctc_score(lp[b], lens[b], [units.index(w) for w in sent],
                                   np.logaddexp.reduce)
                  for sent in itertools.product(*slots)}  # fmt: skip
        z = np.logaddexp.reduce(list(scores.values()))
        for k, slot in enumerate(slots):
            ref = [np.exp(np.logaddexp.reduce([v for s, v in scores.items() if s[k] == w]) - z)
                   for w in slot]  # fmt: skip
            np.testing.assert_allclose(post[b][k], ref, rtol=1e-9, atol=1e-12)
        assert got[b] == [slot[int(np.argmax(p))] for slot, p in zip(slots, post[b])]
        n_differ += got[b] != GridSearch(units, slots)(lp[b:b + 1], lens[b:b + 1])[0]
    # on these flat posteriors the best alignment and the slot marginals disagree
    assert n_differ > 0


def test_grid_mbr_decodes_clear_posteriors():
    units = ["<blank>"] + sorted(VOCAB)
    sent = "bin blue at f two now".split()
    lp = np.full((2, 14, len(units)), -10.0)
    for t in range(12):
        lp[:, t, units.index(sent[t // 2]) if t % 2 == 0 else 0] = 0.0
    lp[:, 12:, 0] = 0.0  # trailing blanks for the longer one
    assert GridMBRSearch(units)(lp, np.array([12, 14])) == [sent, sent]
