"""The GRID grammar, its keywords and sentence codes: the one home of the six
word slots, used by simgrid, the CHiME-2 preparation, scoring (keyword accuracy)
and decoding (:mod:`pipeline.asr.grammar`).

GRID (Cooke et al., JASA 2006) sentences have six slots:
``command colour preposition letter digit adverb``, e.g. "bin blue at f two now".
A sentence code is one character per slot: the initial of the command, colour,
preposition and adverb, the letter itself, and the digit as ``1``-``9`` with
``z`` for zero (the convention of the CHiME-2 Track 1 file names, e.g.
``bbafzn``); ``0`` is accepted for zero as well. :func:`words_to_code` always
writes ``z`` so codes (and the utt-ids made from them) are unique.
"""

from __future__ import annotations

COMMANDS = ("bin", "lay", "place", "set")
COLOURS = ("blue", "green", "red", "white")
PREPOSITIONS = ("at", "by", "in", "with")
LETTERS = tuple("abcdefghijklmnopqrstuvxyz")  # GRID has no "w"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
          "nine")  # fmt: skip
ADVERBS = ("again", "now", "please", "soon")
SLOTS = (COMMANDS, COLOURS, PREPOSITIONS, LETTERS, DIGITS, ADVERBS)
VOCAB = frozenset(w for slot in SLOTS for w in slot)  # 51 words
# CHiME-2 Track 1 scores the letter and digit (slots 4 and 5)
KEYWORDS = frozenset(LETTERS) | frozenset(DIGITS)

# Number of distinct sentences: 4 * 4 * 4 * 25 * 10 * 4.
N_SENTENCES = 64000

_INITIAL = {0: COMMANDS, 1: COLOURS, 2: PREPOSITIONS, 5: ADVERBS}
_DIGIT_CHAR = {d: ("z" if i == 0 else str(i)) for i, d in enumerate(DIGITS)}
_CHAR_DIGIT = {c: d for d, c in _DIGIT_CHAR.items()} | {"0": "zero"}


def code_to_words(code: str) -> str:
    """Map a 6-char GRID code (e.g. ``"bbaf2n"``) to its lower-case transcript.

    Raises ``ValueError`` for a malformed code.
    """
    c = code.strip().lower()
    if len(c) != 6:
        raise ValueError(f"GRID code must have 6 characters, got {code!r}")
    words = []
    for i, ch in enumerate(c):
        if i in _INITIAL:
            match = [w for w in _INITIAL[i] if w[0] == ch]
        elif i == 3:
            match = [ch] if ch in LETTERS else []
        else:
            match = [_CHAR_DIGIT[ch]] if ch in _CHAR_DIGIT else []
        if len(match) != 1:
            raise ValueError(f"bad character {ch!r} at position {i} of GRID code "
                             f"{code!r}")
        words.append(match[0])
    return " ".join(words)


def words_to_code(words: str) -> str:
    """Map a GRID transcript (6 words) to its code, digit zero as ``z``."""
    w = words.lower().split()
    if len(w) != 6 or any(x not in s for x, s in zip(w, SLOTS)):
        raise ValueError(f"not a GRID sentence: {words!r}")
    return w[0][0] + w[1][0] + w[2][0] + w[3] + _DIGIT_CHAR[w[4]] + w[5][0]


def index_to_code(index: int) -> str:
    """Map an integer in ``[0, N_SENTENCES)`` to a code (mixed-radix digits)."""
    if not 0 <= index < N_SENTENCES:
        raise ValueError(f"GRID sentence index out of range: {index}")
    parts = []
    for slot in reversed(SLOTS):
        index, r = divmod(index, len(slot))
        parts.append(slot[r])
    return words_to_code(" ".join(reversed(parts)))


def is_grid(words: list[str]) -> bool:
    """True if every word belongs to the GRID vocabulary."""
    return all(w in VOCAB for w in words)
