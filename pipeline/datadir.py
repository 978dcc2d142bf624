"""Kaldi data directories: load, save, validate, fix, subset, split, combine.

A data dir is a folder of "key value" text files (Kaldi's convention, see
``utils/validate_data_dir.sh`` and ``utils/fix_data_dir.sh`` in Kaldi):

=================  ==========  ====================================================
file               keyed by    value
=================  ==========  ====================================================
``wav.scp``        recording   a path, or a shell pipe ending in ``|``
``segments``       utterance   ``<recording> <start-s> <end-s>`` (optional)
``text``           utterance   the transcript (words, space separated)
``utt2spk``        utterance   speaker id; the utt-id must start with it
``spk2utt``        speaker     its utterances (derived from utt2spk on save)
``feats.scp``      utterance   ``<ark-path>:<byte-offset>`` (optional)
``cmvn.scp``       speaker     ``<ark-path>:<byte-offset>`` (optional)
``utt2snr``        utterance   SNR in dB (noisy sets)
``utt2cond``       utterance   condition token (e.g. ``noisy_babble``)
``utt2num_frames`` utterance   number of feature frames (written by make-feats)
``utt2dur``        utterance   duration in seconds
``channel``        (one line)  channel of multi-channel audio: left, right, mean or
                               an index (optional; absent = channel 0, as Kaldi)
=================  ==========  ====================================================

Without ``segments``, recordings and utterances are the same thing and ``wav.scp``
is keyed by utterance. Every file is sorted in C-locale (byte) order with unique
keys; :meth:`DataDir.save` is the one writer that guarantees it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# attribute name -> file name, in the order files are written and checked
FILES = {
    "wav_scp": "wav.scp",
    "segments": "segments",
    "text": "text",
    "utt2spk": "utt2spk",
    "feats_scp": "feats.scp",
    "cmvn_scp": "cmvn.scp",
    "utt2snr": "utt2snr",
    "utt2cond": "utt2cond",
    "utt2num_frames": "utt2num_frames",
    "utt2dur": "utt2dur",
}
REQUIRED = ("wav.scp", "text", "utt2spk")
CHANNEL_FILE = "channel"
CHANNELS = {"left": 0, "right": 1, "mean": "mean"}
PER_UTT = (
    "segments", "text", "feats.scp", "utt2snr", "utt2cond", "utt2num_frames",
    "utt2dur",
)  # fmt: skip


@dataclass(frozen=True)
class Problem:
    """One problem found in a data dir: ``path:line: message``."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}"


class DataDirError(Exception):
    """A data dir breaks Kaldi's rules. ``problems`` lists every finding.

    ``str(err)`` names the file and line of each problem (at most 20 shown).
    """

    def __init__(self, problems: list[Problem] | Problem | str, path=None, line=None):
        if isinstance(problems, str):
            problems = [Problem(str(path or "?"), line, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        first = self.problems[0]
        self.path, self.line = first.path, first.line
        shown = [str(p) for p in self.problems[:20]]
        if len(self.problems) > 20:
            shown.append(f"... and {len(self.problems) - 20} more problems")
        super().__init__("\n".join(shown))


def check_finite(data_dir: str | Path, mats) -> None:
    """Raise :class:`DataDirError` naming ``feats.scp:LINE`` and the utterance for
    every matrix of ``mats`` (a mapping or ``(utt, matrix)`` pairs read from
    ``data_dir``'s feats.scp) holding NaN or infinite values."""
    items = mats.items() if hasattr(mats, "items") else mats
    bad = []
    for utt, m in items:
        n = int(np.size(m) - np.count_nonzero(np.isfinite(m)))
        if n:
            bad.append((utt, n))
    if not bad:
        return
    scp = Path(data_dir) / "feats.scp"
    line_of = {}
    if scp.is_file():
        with open(scp, encoding="utf-8", errors="replace") as f:
            line_of = {ln.split(maxsplit=1)[0]: i for i, ln in enumerate(f, 1) if ln.strip()}
    raise DataDirError([Problem(str(scp), line_of.get(u), f"utterance '{u}' has {n} "
                                "non-finite values") for u, n in bad])  # fmt: skip


def c_sorted(keys) -> list[str]:
    """Sort as ``LC_ALL=C sort`` does: by UTF-8 bytes (= code points in Python)."""
    return sorted(keys)


def read_table(path: str | Path) -> tuple[dict[str, str], list[Problem], list]:
    """Read a Kaldi "key value" file.

    Returns ``(table, problems, order)`` where ``order`` is ``[(key, lineno)]`` in
    file order (so sorting and duplicates can be checked later) and ``problems``
    lists undecodable or empty lines. The value is the rest of the line after the
    first run of whitespace ("" if the line has only a key).
    """
    table: dict[str, str] = {}
    problems: list[Problem] = []
    order = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                problems.append(Problem(str(path), lineno, f"not UTF-8 ({e.reason})"))
                continue
            parts = line.strip().split(maxsplit=1)
            if not parts:
                problems.append(Problem(str(path), lineno, "empty line"))
                continue
            key = parts[0]
            order.append((key, lineno))
            if key not in table:  # keep the first; duplicates reported by validate
                table[key] = parts[1].strip() if len(parts) > 1 else ""
    return table, problems, order


def write_table(path: Path, table: dict[str, str]) -> None:
    """Write ``key value`` lines in C order to ``path`` (caller renames it)."""
    with open(path, "w", encoding="utf-8") as f:
        for key in c_sorted(table):
            value = table[key]
            f.write(f"{key} {value}\n" if value != "" else f"{key}\n")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return " ".join(_fmt(v) for v in value)
    return str(value)


class DataDir:
    """An in-memory Kaldi data dir.

    Construct from dicts (values are formatted to strings; ``segments`` values may be
    ``(reco, start_s, end_s)`` tuples, ``utt2snr`` floats), or :meth:`load` a folder.
    ``spk2utt`` is always derived from ``utt2spk``.

    >>> d = DataDir(wav_scp={"s1_a": "/x/a.wav"}, text={"s1_a": "bin blue"},
    ...             utt2spk={"s1_a": "s1"})
    >>> d.spk2utt
    {'s1': ['s1_a']}
    """

    def __init__(self, wav_scp=None, text=None, utt2spk=None, *, segments=None,
                 feats_scp=None, cmvn_scp=None, utt2snr=None, utt2cond=None,
                 utt2num_frames=None, utt2dur=None, channel=None,
                 path=None):  # fmt: skip
        given = dict(
            wav_scp=wav_scp, segments=segments, text=text, utt2spk=utt2spk,
            feats_scp=feats_scp, cmvn_scp=cmvn_scp, utt2snr=utt2snr,
            utt2cond=utt2cond, utt2num_frames=utt2num_frames, utt2dur=utt2dur,
        )  # fmt: skip
        self.tables: dict[str, dict[str, str]] = {}
        for attr, table in given.items():
            if table is not None:
                self.tables[FILES[attr]] = {str(k): _fmt(v) for k, v in table.items()}
        for name in REQUIRED:
            self.tables.setdefault(name, {})
        self.channel = None if channel is None else str(channel)
        self.path = Path(path) if path is not None else None
        # file name -> [(key, lineno)] as read from disk; empty for in-memory dirs
        self._order: dict[str, list] = {}
        self._read_problems: list[Problem] = []
        self._spk2utt_on_disk: dict[str, str] | None = None

    # ----------------------------------------------------------------- access
    def _table(self, name):
        return self.tables.get(name)

    wav_scp = property(lambda self: self.tables["wav.scp"])
    text = property(lambda self: self.tables["text"])
    utt2spk = property(lambda self: self.tables["utt2spk"])
    feats_scp = property(lambda self: self._table("feats.scp"))
    cmvn_scp = property(lambda self: self._table("cmvn.scp"))
    utt2cond = property(lambda self: self._table("utt2cond"))

    @property
    def utt2snr(self) -> dict[str, float] | None:
        t = self._table("utt2snr")
        return None if t is None else {k: float(v) for k, v in t.items()}

    @property
    def utt2num_frames(self) -> dict[str, int] | None:
        t = self._table("utt2num_frames")
        return None if t is None else {k: int(v) for k, v in t.items()}

    @property
    def segments(self) -> dict[str, tuple[str, float, float]] | None:
        t = self._table("segments")
        if t is None:
            return None
        out = {}
        for k, v in t.items():
            reco, start, end = v.split()
            out[k] = (reco, float(start), float(end))
        return out

    @property
    def utts(self) -> list[str]:
        """Utterance ids in C order."""
        return c_sorted(self.utt2spk)

    def __len__(self) -> int:
        return len(self.utt2spk)

    @property
    def spk2utt(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for utt in self.utts:
            out.setdefault(self.utt2spk[utt], []).append(utt)
        return {spk: out[spk] for spk in c_sorted(out)}

    @property
    def speakers(self) -> list[str]:
        return list(self.spk2utt)

    def set_table(self, name: str, table: dict | None) -> None:
        """Add/replace (or with ``None`` remove) an optional file such as feats.scp."""
        if table is None:
            self.tables.pop(name, None)
        else:
            self.tables[name] = {str(k): _fmt(v) for k, v in table.items()}

    @property
    def audio_channel(self) -> int | str:
        """The ``channel`` argument of :func:`pipeline.audio.read_audio` for this
        dir: 0 (left / default), 1 (right), another index, or ``"mean"``."""
        if self.channel is None:
            return 0
        if self.channel in CHANNELS:
            return CHANNELS[self.channel]
        return int(self.channel)

    def wav_entry(self, utt: str) -> tuple[str, float | None, float | None]:
        """``(wav.scp entry, start_s, end_s)`` of an utterance (None without segments)."""
        seg = self._table("segments")
        if seg is None:
            return self.wav_scp[utt], None, None
        reco, start, end = seg[utt].split()
        return self.wav_scp[reco], float(start), float(end)

    # ------------------------------------------------------------------- I/O
    @classmethod
    def load(cls, path: str | Path) -> DataDir:
        """Read a data dir. Raises :class:`DataDirError` if it is missing or a
        required file is absent; other problems are reported by :meth:`validate`."""
        path = Path(path)
        if not path.is_dir():
            raise DataDirError("expected a Kaldi data dir, not found", path=path)
        missing = [n for n in REQUIRED + ("spk2utt",) if not (path / n).is_file()]
        if missing:
            raise DataDirError(
                [Problem(str(path / n), None, "required file missing") for n in missing]
            )
        d = cls(path=path)
        for name in list(FILES.values()) + ["spk2utt"]:
            f = path / name
            if not f.is_file():
                continue
            table, problems, order = read_table(f)
            d._read_problems += problems
            d._order[name] = order
            if name == "spk2utt":
                d._spk2utt_on_disk = table
            else:
                d.tables[name] = table
        if (path / CHANNEL_FILE).is_file():
            d.channel = (path / CHANNEL_FILE).read_text(encoding="utf-8").strip()
        return d

    def save(self, path: str | Path, validate: bool = True) -> Path:
        """Write every file sorted, plus the derived ``spk2utt``.

        Atomic per file set: all files are first written to temporary names, then
        renamed; optional files this object lacks are removed from ``path`` so a
        stale ``feats.scp`` never survives. Validates first (without touching
        audio) unless ``validate=False``.
        """
        path = Path(path)
        if validate:
            self.validate(check_files=False, check_feats=False)
        path.mkdir(parents=True, exist_ok=True)
        tables = dict(self.tables)
        tables["spk2utt"] = {s: " ".join(u) for s, u in self.spk2utt.items()}
        tmp_names = {}
        try:
            for name, table in tables.items():
                fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=path)
                os.close(fd)
                tmp_names[name] = tmp
                write_table(Path(tmp), table)
            if self.channel is not None:
                fd, tmp = tempfile.mkstemp(prefix=f".{CHANNEL_FILE}.", dir=path)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(self.channel + "\n")
                tmp_names[CHANNEL_FILE] = tmp
        except BaseException:
            for tmp in tmp_names.values():
                Path(tmp).unlink(missing_ok=True)
            raise
        for name in (set(FILES.values()) | {CHANNEL_FILE}) - set(tmp_names):
            (path / name).unlink(missing_ok=True)
        for name, tmp in tmp_names.items():
            os.replace(tmp, path / name)
        self.path = path
        return path

    # ------------------------------------------------------------ validation
    def validate(self, *, check_files: bool = True, check_feats: bool = True,
                 sample_rate: int | None = None) -> DataDir:  # fmt: skip
        """Check Kaldi's rules; raise :class:`DataDirError` listing every problem.

        Checks (as ``utils/validate_data_dir.sh``): every file C-sorted with unique
        keys; every utterance has a recording, a non-empty transcript and a speaker;
        ``spk2utt`` matches ``utt2spk``; each utt-id starts with its speaker-id and
        sorting by utterance also sorts by speaker; segments lie inside their
        recording; per-utterance files cover only known utterances; ``utt2snr`` is
        numeric. ``check_files``: wav.scp paths exist (pipes are not run), and with
        ``sample_rate`` set every recording header is read and its rate checked.
        ``check_feats``: every feats.scp / cmvn.scp matrix is read (catches corrupt
        or truncated arks) and feature dims agree. Returns ``self`` for chaining.
        """
        p: list[Problem] = list(self._read_problems)
        base = self.path or Path("<memory>")

        def fp(name):
            return str(base / name)

        def lineno(name, key):
            for k, n in self._order.get(name, ()):
                if k == key:
                    return n
            return None

        # sorted + unique, in file order as read
        for name, order in self._order.items():
            prev = None
            seen = set()
            for key, n in order:
                if key in seen:
                    p.append(Problem(fp(name), n, f"duplicate key '{key}'"))
                elif prev is not None and key < prev:
                    p.append(Problem(fp(name), n,
                                     f"not sorted in C order: '{key}' after '{prev}' "
                                     "(sort with LC_ALL=C, or run fix-data-dir)"))  # fmt: skip
                seen.add(key)
                prev = key

        utt2spk = self.utt2spk
        utts = set(utt2spk)
        if not utts:
            p.append(Problem(fp("utt2spk"), None, "no utterances"))
        # recordings
        segments = self._table("segments")
        reco_of = (
            {u: v.split()[0] if v.split() else "" for u, v in segments.items()}
            if segments is not None else {u: u for u in utts}
        )  # fmt: skip
        for utt in c_sorted(utts):
            if segments is not None and utt not in segments:
                p.append(Problem(fp("segments"), None, f"utterance '{utt}' (in utt2spk) has no segment"))  # noqa: E501
            elif reco_of[utt] not in self.wav_scp:
                name = "segments" if segments is not None else "wav.scp"
                p.append(Problem(fp(name), lineno(name, utt),
                                 f"utterance '{utt}' has no recording in wav.scp"))  # fmt: skip
            if utt not in self.text:
                p.append(Problem(fp("text"), None, f"utterance '{utt}' (in utt2spk) has no transcript"))  # noqa: E501
            elif not self.text[utt].strip():
                p.append(Problem(fp("text"), lineno("text", utt), f"empty transcript for '{utt}'"))  # noqa: E501
            spk = utt2spk[utt]
            if not spk:
                p.append(Problem(fp("utt2spk"), lineno("utt2spk", utt), f"no speaker for '{utt}'"))  # noqa: E501
            elif not utt.startswith(spk):
                p.append(Problem(fp("utt2spk"), lineno("utt2spk", utt),
                                 f"utt-id '{utt}' is not prefixed by its speaker-id '{spk}'"))  # fmt: skip
        # speaker order must agree with utterance order (Kaldi requires both sorts)
        prev_spk = None
        for utt in c_sorted(utts):
            spk = utt2spk[utt]
            if prev_spk is not None and spk < prev_spk:
                p.append(Problem(fp("utt2spk"), lineno("utt2spk", utt),
                                 f"speaker '{spk}' of '{utt}' sorts before '{prev_spk}': "
                                 "utt-ids must sort in speaker order"))  # fmt: skip
                break
            prev_spk = spk
        # per-utterance files hold no unknown utterances
        for name in ("text",) + PER_UTT:
            table = self._table(name)
            if table is None:
                continue
            for key in c_sorted(set(table) - utts):
                p.append(Problem(fp(name), lineno(name, key),
                                 f"utterance '{key}' not in utt2spk"))  # fmt: skip
        if segments is None:
            for key in c_sorted(set(self.wav_scp) - utts):
                p.append(Problem(fp("wav.scp"), lineno("wav.scp", key),
                                 f"utterance '{key}' not in utt2spk"))  # fmt: skip
        # spk2utt as read from disk must match utt2spk
        if self._spk2utt_on_disk is not None:
            derived = {s: " ".join(u) for s, u in self.spk2utt.items()}
            disk = {s: " ".join(v.split()) for s, v in self._spk2utt_on_disk.items()}
            for spk in c_sorted(set(derived) | set(disk)):
                if derived.get(spk) != disk.get(spk):
                    p.append(Problem(fp("spk2utt"), lineno("spk2utt", spk),
                                     f"speaker '{spk}' lists {disk.get(spk, 'nothing')!r}"
                                     f" but utt2spk gives {derived.get(spk, 'nothing')!r}"))  # fmt: skip
        # values
        for key, v in (segments or {}).items():
            f = v.split()
            try:
                ok = len(f) == 3 and 0 <= float(f[1]) < float(f[2])
            except ValueError:
                ok = False
            if not ok:
                p.append(Problem(fp("segments"), lineno("segments", key),
                                 f"bad segment '{v}' (want '<reco> <start> <end>', start<end)"))  # fmt: skip
        for key, v in (self._table("utt2snr") or {}).items():
            try:
                float(v)
            except ValueError:
                p.append(Problem(fp("utt2snr"), lineno("utt2snr", key), f"SNR '{v}' is not a number"))  # noqa: E501
        if self.channel is not None:
            try:
                _ = self.audio_channel
            except ValueError:
                p.append(Problem(fp(CHANNEL_FILE), 1,
                                 f"channel '{self.channel}' is not left, right, mean "
                                 "or an index"))  # fmt: skip
        for reco, entry in self.wav_scp.items():
            if not entry:
                p.append(Problem(fp("wav.scp"), lineno("wav.scp", reco), f"empty entry for '{reco}'"))  # noqa: E501
        if p:
            raise DataDirError(p)
        if check_files:
            self._check_audio(sample_rate, fp, lineno)
        if check_feats:
            self._check_feats(fp, lineno)
        return self

    def _check_audio(self, sample_rate, fp, lineno) -> None:
        import soundfile

        p: list[Problem] = []
        durations = {}
        for reco in c_sorted(self.wav_scp):
            entry = self.wav_scp[reco]
            if entry.endswith("|"):
                continue  # pipes are not run by validation
            if not Path(entry).is_file():
                p.append(Problem(fp("wav.scp"), lineno("wav.scp", reco),
                                 f"audio file not found: {entry}"))  # fmt: skip
                continue
            if sample_rate is None and self._table("segments") is None:
                continue
            try:
                info = soundfile.info(entry)
            except Exception as e:  # noqa: BLE001 - soundfile raises several types
                p.append(Problem(fp("wav.scp"), lineno("wav.scp", reco),
                                 f"unreadable audio {entry}: {e}"))  # fmt: skip
                continue
            durations[reco] = info.frames / info.samplerate
            if sample_rate is not None and info.samplerate != sample_rate:
                p.append(Problem(fp("wav.scp"), lineno("wav.scp", reco),
                                 f"{entry} has sample rate {info.samplerate} Hz, "
                                 f"expected {sample_rate} Hz"))  # fmt: skip
        for utt, (reco, _start, end) in (self.segments or {}).items():
            if reco in durations and end > durations[reco] + 0.01:
                p.append(Problem(fp("segments"), lineno("segments", utt),
                                 f"segment '{utt}' ends at {end:g} s, after the end of "
                                 f"'{reco}' ({durations[reco]:.3f} s)"))  # fmt: skip
        if p:
            raise DataDirError(p)

    def _check_feats(self, fp, lineno) -> None:
        import kaldiio

        p: list[Problem] = []
        dims = set()
        for name, keys in (("feats.scp", set(self.utt2spk)), ("cmvn.scp", set(self.spk2utt))):  # noqa: E501
            table = self._table(name)
            if table is None:
                continue
            for key in c_sorted(keys - set(table)):
                p.append(Problem(fp(name), None, f"'{key}' has no entry"))
            for key in c_sorted(table):
                try:
                    mat = kaldiio.load_mat(table[key])
                except Exception as e:  # noqa: BLE001 - kaldiio raises many types
                    p.append(Problem(fp(name), lineno(name, key),
                                     f"cannot read '{key}' from {table[key]}: {e}"))  # fmt: skip
                    continue
                if mat.ndim != 2:
                    p.append(Problem(fp(name), lineno(name, key), f"'{key}' is not a matrix"))  # noqa: E501
                    continue
                n_bad = int(mat.size - np.count_nonzero(np.isfinite(mat)))
                if n_bad:
                    what = "utterance" if name == "feats.scp" else "speaker"
                    p.append(Problem(fp(name), lineno(name, key),
                                     f"{what} '{key}' has {n_bad} non-finite values"))  # fmt: skip
                if name == "feats.scp":
                    dims.add(mat.shape[1])
                elif dims and mat.shape[1] - 1 not in dims:
                    p.append(Problem(fp(name), lineno(name, key),
                                     f"CMVN stats of '{key}' have dim {mat.shape[1] - 1}, "
                                     f"features have {sorted(dims)}"))  # fmt: skip
        if len(dims) > 1:
            p.append(Problem(fp("feats.scp"), None, f"mixed feature dims {sorted(dims)}"))
        if p:
            raise DataDirError(p)

    # -------------------------------------------------------------- editing
    def fix(self) -> tuple[DataDir, int]:
        """Keep the utterances present in every per-utterance file with a non-empty
        transcript and a recording (Kaldi's ``fix_data_dir.sh``); drop the rest.
        Returns ``(fixed, n_removed)``; sorting and spk2utt come from :meth:`save`."""
        keep = set(self.utt2spk)
        for name in ("text",) + PER_UTT:
            table = self._table(name)
            if table is not None:
                keep &= set(table)
        keep = {u for u in keep if self.text.get(u, "").strip() and self.utt2spk[u]}
        segments = self._table("segments")
        if segments is None:
            keep &= set(self.wav_scp)
        else:
            keep = {u for u in keep if segments[u].split()[0] in self.wav_scp}
        removed = len(set(self.utt2spk) | set(self.text)) - len(keep)
        fixed = self.subset(utts=keep)
        if removed:
            logger.warning("fix: removed %d utterances from %s", removed, self.path)
        return fixed, removed

    def subset(self, utts=None, *, speakers=None, first: int | None = None) -> DataDir:
        """A new DataDir with the given utterances (or those of ``speakers``, or the
        ``first`` N in C order). Recordings no longer used are dropped; cmvn.scp
        keeps the remaining speakers."""
        keep = set(self.utt2spk) if utts is None else set(utts) & set(self.utt2spk)
        if speakers is not None:
            speakers = set(speakers)
            keep = {u for u in keep if self.utt2spk[u] in speakers}
        if first is not None:
            keep = set(c_sorted(keep)[:first])
        out = DataDir(channel=self.channel)
        segments = self._table("segments")
        recos = (
            {segments[u].split()[0] for u in keep if u in segments}
            if segments is not None else keep
        )  # fmt: skip
        spks = {self.utt2spk[u] for u in keep}
        for name, table in self.tables.items():
            if name == "wav.scp":
                wanted = recos
            elif name == "cmvn.scp":
                wanted = spks
            else:
                wanted = keep
            out.tables[name] = {k: v for k, v in table.items() if k in wanted}
        return out

    def split(self, n: int, *, per_utt: bool = False) -> list[DataDir]:
        """Split into ``n`` parts like Kaldi's ``split_data.sh``: by speaker (a
        speaker never spans two parts) unless ``per_utt``. Parts are contiguous in
        C order and balanced by utterance count."""
        if n < 1:
            raise ValueError(f"split: n must be >= 1, got {n}")
        groups = [[u] for u in self.utts] if per_utt else list(self.spk2utt.values())
        if n > len(groups):
            what = "utterances" if per_utt else "speakers"
            raise DataDirError(
                f"cannot split into {n} parts: only {len(groups)} {what}",
                path=self.path,
            )
        # contiguous parts: boundary j sits at the group edge nearest j/n of the
        # utterances, never leaving a part empty
        cum = [0]
        for g in groups:
            cum.append(cum[-1] + len(g))
        bounds = [0]
        for j in range(1, n):
            lo, hi = bounds[-1] + 1, len(groups) - (n - j)
            target = j * cum[-1] / n
            bounds.append(min(range(lo, hi + 1), key=lambda i: abs(cum[i] - target)))
        bounds.append(len(groups))
        parts = [
            [u for g in groups[a:b] for u in g] for a, b in zip(bounds, bounds[1:])
        ]
        return [self.subset(utts=p) for p in parts]

    def map_utts(self, fn) -> DataDir:
        """A copy with every utterance id replaced by ``fn(utt)`` (and, without
        segments, every recording id too). Speakers are kept, so ``fn`` must keep
        the speaker prefix. Two utterances mapped to one id is an error. Kaldi's
        ``copy_data_dir.sh --utt-suffix`` is ``d.map_utts(lambda u: u + sfx)``."""
        new = {u: fn(u) for u in self.utt2spk}
        if len(set(new.values())) != len(new):
            seen: dict[str, str] = {}
            for u, n in sorted(new.items()):
                if n in seen:
                    raise DataDirError(
                        f"renaming maps '{seen[n]}' and '{u}' to the same id '{n}'",
                        path=self.path,
                    )
                seen[n] = u
        has_seg = self._table("segments") is not None
        out = DataDir(channel=self.channel)
        for name, table in self.tables.items():
            if name == "cmvn.scp" or (name == "wav.scp" and has_seg):
                out.tables[name] = dict(table)
            else:
                out.tables[name] = {new.get(k, k): v for k, v in table.items()}
        return out

    @classmethod
    def combine(cls, dirs: list[DataDir], utt_suffixes: list[str] | None = None) -> DataDir:  # noqa: E501
        """Union of data dirs (Kaldi's ``combine_data.sh``).

        Utterance ids must stay unique: parallel dirs that share ids (clean / reverb
        / noisy versions) need ``utt_suffixes`` (e.g. ``["-clean", "-reverb",
        "-noisy"]``), appended to utterance (and, with segments, recording) ids, so
        ids stay prefixed by their speaker. ``cmvn.scp`` is dropped (per-speaker
        stats must be recomputed over the union). A duplicate id is an error.
        """
        if utt_suffixes is not None and len(utt_suffixes) != len(dirs):
            raise ValueError("combine: one suffix per data dir expected")
        channels = {d.channel for d in dirs}
        if len(channels) > 1:
            raise DataDirError(
                "combine: inputs were prepared for different channels "
                f"{sorted(str(c) for c in channels)}",
                path=dirs[0].path,
            )
        out = cls(channel=channels.pop() if channels else None)
        origin: dict[tuple[str, str], str] = {}
        for i, d in enumerate(dirs):
            sfx = utt_suffixes[i] if utt_suffixes else ""
            has_seg = d._table("segments") is not None
            for name, table in d.tables.items():
                if name == "cmvn.scp":
                    continue
                dst = out.tables.setdefault(name, {})
                for key, value in table.items():
                    if name == "segments" and sfx:
                        f = value.split()
                        value = " ".join([f[0] + sfx] + f[1:])
                    new = key + sfx
                    if new in dst:
                        if name == "wav.scp" and has_seg and dst[new] == value:
                            continue  # the same recording shared by both dirs
                        raise DataDirError(
                            f"combine: duplicate id '{new}' in {name} of "
                            f"{origin.get((name, new), '?')} and {d.path or i}; "
                            "give utt_suffixes to keep ids unique",
                            path=d.path,
                        )
                    dst[new] = value
                    origin[(name, new)] = str(d.path or i)
        present = [set(d.tables) for d in dirs]
        for name in list(out.tables):
            if name not in REQUIRED and not all(name in s for s in present):
                logger.warning("combine: dropping %s (not in every input dir)", name)
                del out.tables[name]
        return out
