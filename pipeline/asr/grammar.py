"""Decoding with the GRID grammar (the grammar itself: :mod:`pipeline.grid`)."""

from __future__ import annotations

from pipeline.grid import KEYWORDS, SLOTS, VOCAB, is_grid

__all__ = ["KEYWORDS", "SLOTS", "VOCAB", "is_grid", "snap_to_grid"]


def _edit(a: str, b: str) -> int:
    """Levenshtein distance between two strings (characters)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def snap_to_grid(words: list[str]) -> list[str]:
    """Snap a hypothesis onto the GRID grammar.

    A monotone alignment (dynamic programming) of the hypothesis words to the six
    grammar slots: aligning word ``w`` to slot ``s`` costs the character edit
    distance from ``w`` to the closest word of ``s`` (normalised by ``len(w)``);
    an unaligned word costs 1 (dropped), an unaligned slot costs 1 (left empty:
    we never invent a word the model did not emit). The aligned words are replaced
    by their closest slot word. Returns at most six words, in slot order.
    """
    n, m = len(words), len(SLOTS)
    if n == 0:
        return []
    best = [[min((_edit(w, c) / max(len(w), 1), c) for c in slot) for slot in SLOTS]
            for w in words]  # fmt: skip
    inf = float("inf")
    # cost[i][j]: first i words against first j slots
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            c = cost[i][j]
            if c == inf:
                continue
            steps = []
            if i < n and j < m:
                steps.append((i + 1, j + 1, c + best[i][j][0], "match"))
            if i < n:
                steps.append((i + 1, j, c + 1.0, "drop"))
            if j < m:
                steps.append((i, j + 1, c + 1.0, "skip"))
            for a, b, v, op in steps:
                if v < cost[a][b]:
                    cost[a][b], back[a][b] = v, op
    out = []
    i, j = n, m
    while i or j:
        op = back[i][j]
        if op == "match":
            out.append(best[i - 1][j - 1][1])
            i, j = i - 1, j - 1
        elif op == "drop":
            i -= 1
        else:
            j -= 1
    return out[::-1]
