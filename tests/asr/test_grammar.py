from pipeline.asr.grammar import snap_to_grid
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
