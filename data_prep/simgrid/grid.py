"""GRID corpus grammar and the 6-character sentence codes.

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
          "nine")
ADVERBS = ("again", "now", "please", "soon")
SLOTS = (COMMANDS, COLOURS, PREPOSITIONS, LETTERS, DIGITS, ADVERBS)

# Number of distinct sentences: 4 * 4 * 4 * 25 * 10 * 4.
N_SENTENCES = 64000

_INITIAL = {0: COMMANDS, 1: COLOURS, 2: PREPOSITIONS, 5: ADVERBS}
_DIGIT_CHAR = {d: ("z" if i == 0 else str(i)) for i, d in enumerate(DIGITS)}
_CHAR_DIGIT = {c: d for d, c in _DIGIT_CHAR.items()} | {"0": "zero"}

# Spoken forms for espeak-ng. Alone, "a" is read as the article (schwa); the
# quoted apostrophe form makes espeak say the letter name /eI/. All other
# letters and words are already pronounced as intended (checked with
# espeak_TextToPhonemes on espeak-ng 1.52).
SPOKEN_LETTER = {c: c for c in LETTERS} | {"a": "'a'"}


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


def spoken_text(words: str) -> str:
    """Text to give espeak-ng for a GRID transcript (letter slot spelled out)."""
    w = words.split()
    w[3] = SPOKEN_LETTER[w[3]]
    return " ".join(w)
