"""Word n-gram language models in ARPA format: interpolated modified Kneser-Ney
estimation from training text (KenLM's ``lmplz`` is not on PyPI), and reading
user ARPA files, including WSJ0's, which ship compressed with Unix ``compress``.

Estimation follows Chen & Goodman (1998) as KenLM does: adjusted counts
(continuation counts N1+(. w) for lower orders, raw counts for the highest order
and for n-grams starting with ``<s>``), three discounts per order from the
count-of-counts, interpolation with the lower order down to a uniform
distribution over the vocabulary (``</s>`` and ``<unk>`` included, ``<s>`` never
predicted). The ARPA file stores the interpolated probability of every seen
n-gram and, as back-off weight of each context, its interpolation weight, so an
ARPA reader computes exactly the interpolated model (tests check it with KenLM).

    python -m pipeline make-lm --text data/train_clean/text --order 3 --out lm.arpa
"""

from __future__ import annotations

import gzip
import io
import math
import os
import shutil
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


class LMError(ValueError):
    """A text or ARPA file cannot be used (the message names it)."""


def read_sentences(path: str | Path, kaldi_text: bool = True) -> list[list[str]]:
    """Sentences of a Kaldi ``text`` file (``utt-id word word ...``; with
    ``kaldi_text=False`` a plain one-sentence-per-line file)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            words = line.split()
            if kaldi_text:
                words = words[1:]
            if words:
                out.append(words)
    if not out:
        raise LMError(f"{path}: no sentences")
    return out


def _discounts(counts: Counter, order: int) -> tuple[float, float, float]:
    """Modified-KN discounts D1, D2, D3+ from the count-of-counts of one order."""
    n = Counter(min(c, 4) for c in counts.values())
    n1, n2, n3, n4 = (n.get(i, 0) for i in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:  # too little text for the estimate: fixed values
        return 0.5, 1.0, 1.5
    y = n1 / (n1 + 2 * n2)
    ds = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    return tuple(min(max(d, 0.05), i + 1.0) for i, d in enumerate(ds))


class KneserNey:
    """An interpolated modified Kneser-Ney n-gram model estimated from sentences.

    ``prob(word, context)`` is the model's probability; :meth:`write_arpa`
    stores it. ``vocab`` holds every word of the text plus ``</s>`` and
    ``<unk>`` (``vocab`` may add words that get only the uniform share)."""

    def __init__(self, sentences, order: int = 3, vocab=None):
        if order < 1:
            raise LMError(f"order must be >= 1, not {order}")
        self.order = order
        raw = Counter()
        words = set()
        for s in sentences:
            toks = [BOS] + list(s) + [EOS]
            words.update(s)
            for n in range(1, order + 1):
                for i in range(max(0, 1 if n == 1 else 0), len(toks) - n + 1):
                    raw[tuple(toks[i:i + n])] += 1
        self.vocab = sorted(words | set(vocab or ()) | {EOS, UNK})
        # adjusted counts per order
        adj = [Counter() for _ in range(order + 1)]
        for g, c in raw.items():
            if len(g) == order or g[0] == BOS:
                adj[len(g)][g] += c
        for g in raw:
            if len(g) >= 2:  # a distinct left extension of g[1:] (<s> included)
                low = g[1:]
                if not (len(low) == order or low[0] == BOS):
                    adj[len(low)][low] += 1
        self.adj = adj
        self.disc = [None] + [_discounts(adj[n], n) for n in range(1, order + 1)]
        # per context: total adjusted count and N1, N2, N3+ of its continuations
        self.ctx_total = [defaultdict(float) for _ in range(order + 1)]
        self.ctx_n = [defaultdict(lambda: [0, 0, 0]) for _ in range(order + 1)]
        for n in range(1, order + 1):
            for g, c in adj[n].items():
                h = g[:-1]
                self.ctx_total[n][h] += c
                self.ctx_n[n][h][min(c, 3) - 1] += 1
        self._cache: dict = {}

    def _d(self, n: int, c: float) -> float:
        return 0.0 if c <= 0 else self.disc[n][min(int(c), 3) - 1]

    def gamma(self, context: tuple) -> float:
        """Interpolation (= back-off) weight of ``context`` (1 for unseen)."""
        n = len(context) + 1
        total = self.ctx_total[n].get(context)
        if not total:
            return 1.0
        d1, d2, d3 = self.disc[n]
        k1, k2, k3 = self.ctx_n[n][context]
        return (d1 * k1 + d2 * k2 + d3 * k3) / total

    def prob(self, word: str, context=()) -> float:
        """p(word | context): the last ``order - 1`` words of ``context`` count."""
        context = tuple(context)[-(self.order - 1):] if self.order > 1 else ()
        if word not in self.vocab and word != BOS:
            word = UNK
        key = (word, context)
        if key in self._cache:
            return self._cache[key]
        if word == BOS:
            return 0.0
        n = len(context) + 1
        if n == 1:
            lower = 1.0 / len(self.vocab)
        else:
            lower = self.prob(word, context[1:])
        total = self.ctx_total[n].get(context)
        if not total:  # unseen context: all of it from the lower order
            p = lower
        else:
            c = self.adj[n].get(context + (word,), 0)
            p = max(c - self._d(n, c), 0.0) / total + self.gamma(context) * lower
        self._cache[key] = p
        return p

    def sentence_logprob(self, words) -> float:
        """log10 p(words </s> | <s>)."""
        toks = [BOS] + list(words) + [EOS]
        return sum(math.log10(self.prob(toks[i], toks[:i])) for i in range(1, len(toks)))

    def write_arpa(self, path: str | Path) -> Path:
        """Write the model as an ARPA file (atomically)."""
        path = Path(path)
        grams = [None] + [dict() for _ in range(self.order)]
        for w in self.vocab:
            grams[1][(w,)] = None
        grams[1][(BOS,)] = None
        for n in range(2, self.order + 1):
            for g in self.adj[n]:
                grams[n][g] = None
        lines = ["", "\\data\\"]
        lines += [f"ngram {n}={len(grams[n])}" for n in range(1, self.order + 1)]
        for n in range(1, self.order + 1):
            lines += ["", f"\\{n}-grams:"]
            for g in sorted(grams[n]):
                p = self.prob(g[-1], g[:-1])
                lp = -99.0 if p <= 0 else math.log10(p)
                line = f"{lp:.6f}\t{' '.join(g)}"
                if n < self.order and g[-1] != EOS:
                    bow = self.gamma(g)
                    line += f"\t{math.log10(bow) if bow > 0 else -99.0:.6f}"
                lines.append(line)
        lines += ["", "\\end\\", ""]
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("\n".join(lines), encoding="utf-8")
        os.replace(tmp, path)
        return path


def open_arpa(path: str | Path) -> io.TextIOBase:
    """A text stream of an ARPA file: plain, gzip (``.gz``) or Unix ``compress``
    (``.z``/``.Z``, as WSJ0's LMs ship; read with ``gzip -dc``)."""
    path = Path(path)
    if not path.is_file():
        raise LMError(f"{path}: LM file not found")
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", errors="replace")
    if magic == b"\x1f\x9d":  # LZW (.Z)
        gz = shutil.which("gzip")
        if gz is None:
            raise LMError(f"{path}: a compress (.Z) file needs gzip to read it")
        r = subprocess.run([gz, "-dc", str(path)], capture_output=True)
        if r.returncode != 0:
            raise LMError(f"{path}: gzip -dc failed: {r.stderr.decode(errors='replace')}")
        return io.StringIO(r.stdout.decode("utf-8", errors="replace"))
    return open(path, encoding="utf-8", errors="replace")


def arpa_vocab(path: str | Path) -> list[str]:
    """The unigrams of an ARPA file; raises :class:`LMError` if it is not one."""
    words, in_uni, seen_data = [], False, False
    with open_arpa(path) as f:
        for lineno, line in enumerate(f, 1):
            s = line.strip()
            if s == "\\data\\":
                seen_data = True
            elif s == "\\1-grams:":
                in_uni = True
            elif s.startswith("\\") and in_uni:
                break
            elif in_uni and s:
                parts = s.split()
                if len(parts) < 2:
                    raise LMError(f"{path}:{lineno}: expected 'logprob word [backoff]'")
                words.append(parts[1])
    if not seen_data or not words:
        raise LMError(f"{path}: not an ARPA file (no \\data\\ section or no 1-grams)")
    return words


def plain_arpa(path: str | Path, work_dir: str | Path) -> Path:
    """``path`` itself when it is a plain ARPA file, else its decompressed copy
    in ``work_dir`` (KenLM reads plain files only)."""
    path = Path(path)
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic not in (b"\x1f\x8b", b"\x1f\x9d"):
        return path
    out = Path(work_dir) / (path.name.rsplit(".", 1)[0] + ".arpa")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with open_arpa(path) as src, open(tmp, "w", encoding="utf-8") as dst:
        shutil.copyfileobj(src, dst)
    os.replace(tmp, out)
    return out


def write_lexicon(words, units, path: str | Path, space: str) -> tuple[Path, list[str]]:
    """A flashlight/torchaudio lexicon (``word c h a r s <space>`` per line) for the
    character units ``units``; returns (path, words left out because they hold a
    character that is no unit)."""
    unit_set = set(units)
    lines, left_out = [], []
    for w in words:
        if w in (BOS, EOS, UNK):
            continue
        if all(c in unit_set for c in w):
            lines.append(f"{w} {' '.join(w)} {space}")
        else:
            left_out.append(w)
    if not lines:
        raise LMError(f"no word of the LM can be spelt with the AM's units ({path})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, left_out


class LexiconLMSearch:
    """CTC beam search through a lexicon with a word n-gram LM: torchaudio's
    ``ctc_decoder`` (flashlight-text's lexicon decoder and its KenLM).

    ``tokens``: the AM's :class:`pipeline.asr.data.Tokens` (characters; index 0
    the CTC blank, ``<space>`` the word boundary). ``lexicon``: a file of
    ``word unit unit ...`` lines (default: every LM word spelt in characters).
    ``lm_weight`` scales the LM log-probability, ``word_score`` is added per word
    (both tuned on dev by the recipes, never on test)."""

    def __init__(self, tokens, lm_path, work_dir, lexicon=None, lm_weight: float = 2.0,
                 word_score: float = 0.0, beam: int = 50):  # fmt: skip
        from pipeline.asr.data import BLANK, SPACE

        if tokens.kind != "char":
            raise LMError("LM decoding needs a character-unit AM (token_type: char); "
                          "word-unit GRID models use --grammar grid")  # fmt: skip
        try:
            from torchaudio.models.decoder import ctc_decoder
        except (ImportError, RuntimeError) as e:  # flashlight-text missing
            raise LMError(f"LM decoding needs flashlight-text: {e}") from None
        work_dir = Path(work_dir)
        arpa = plain_arpa(lm_path, work_dir)
        vocab = arpa_vocab(arpa)
        self.left_out: list[str] = []
        if lexicon is None:
            lexicon, self.left_out = write_lexicon(vocab, tokens.units[1:],
                                                   work_dir / "lexicon.txt", SPACE)  # fmt: skip
        elif not Path(lexicon).is_file():
            raise LMError(f"{lexicon}: lexicon not found")
        self.decoder = ctc_decoder(
            lexicon=str(lexicon), tokens=list(tokens.units), lm=str(arpa), nbest=1,
            beam_size=beam, lm_weight=lm_weight, word_score=word_score,
            blank_token=BLANK, sil_token=SPACE, unk_word=UNK)  # fmt: skip

    def __call__(self, log_probs, lens) -> list[str]:
        """(B, T, V) log-probabilities and (B,) lengths -> hypothesis texts."""
        import torch

        res = self.decoder(log_probs.to(torch.float32).cpu().contiguous(),
                           lens.to(torch.int32).cpu())  # fmt: skip
        return [" ".join(w for w in r[0].words if w not in (BOS, EOS, UNK)) if r else ""
                for r in res]  # fmt: skip
