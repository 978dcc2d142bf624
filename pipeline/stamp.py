"""Request stamps: what a step was asked to do, so that a rerun skips only work
that is really done, resumes work that was interrupted, and refuses to reuse a
model made from other settings (a quick run's model in a full-size run, a model
trained before its input features were recomputed).

A training verb writes ``EXP/request.json`` before it starts: a hash of the
resolved config, a fingerprint of every input data dir and the seed. On a rerun
:func:`check_request` compares it with what is asked now:

* same request, ``EXP/train.done`` present -> ``"skip"`` (nothing is touched);
* same request, not done -> ``"resume"``;
* another request -> :class:`StaleError` naming what differs (the verbs exit 2;
  ``--force`` clears the dir's outputs and starts afresh).

A data dir's fingerprint covers what a model learns from: the contents of
``feats.scp``, ``cmvn.scp`` and ``text`` and the size and modification time of
every ark they name (features recomputed in place change it even when the
offsets do not).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

REQUEST_FILE = "request.json"
DONE_FILE = "train.done"
_DIR_FILES = ("feats.scp", "cmvn.scp", "text")


class StaleError(ValueError):
    """The output dir holds work done for another request (a usage error)."""


def sha1_text(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def config_hash(obj) -> str:
    """Hash of a config: its text, or a JSON-able mapping (keys sorted)."""
    if not isinstance(obj, str):
        obj = json.dumps(obj, sort_keys=True, default=str)
    return sha1_text(obj)[:16]


def file_id(path: str | Path) -> str:
    """Size and modification time of a file ("" when missing)."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def dir_fingerprint(path: str | Path) -> str:
    """Fingerprint of a data dir's features, CMVN stats and transcripts."""
    d = Path(path)
    h = hashlib.sha1()
    arks = set()
    for name in _DIR_FILES:
        f = d / name
        if not f.is_file():
            h.update(f"{name}:-\n".encode())
            continue
        data = f.read_bytes()
        h.update(f"{name}:{len(data)}\n".encode())
        h.update(data)
        if name.endswith(".scp"):
            for line in data.decode("utf-8", "replace").splitlines():
                parts = line.split(maxsplit=1)
                if len(parts) == 2:
                    arks.add(parts[1].rsplit(":", 1)[0])
    for ark in sorted(arks):
        h.update(f"{ark}={file_id(ark)}\n".encode())  # scp paths: as kaldiio opens them
    return h.hexdigest()[:16]


def inputs_stamp(**groups) -> dict:
    """``{group: {resolved dir: fingerprint}}`` for lists of data dirs."""
    return {g: {str(Path(p).resolve()): dir_fingerprint(p) for p in dirs}
            for g, dirs in groups.items()}  # fmt: skip


def finished_stamp(exp: str | Path, what: str = "model") -> dict:
    """What identifies a finished model dir used as an input (train-am --init):
    its path, its request and when it finished, so that a model retrained since
    makes another request. Raises :class:`pipeline.datadir.DataDirError` (``what``:
    the option, for the message) when ``exp`` holds no finished training."""
    from pipeline.datadir import DataDirError

    d = Path(exp)
    if not (d / DONE_FILE).is_file():
        raise DataDirError(f"{what}: not a finished model dir (its training has not "
                           "finished there)", path=d / DONE_FILE)  # fmt: skip
    req = d / REQUEST_FILE
    return {"path": str(d.resolve()),
            "request": sha1_text(req.read_text()) if req.is_file() else "",
            "done": file_id(d / DONE_FILE)}  # fmt: skip


def make_request(verb: str, config: str, inputs: dict, **extra) -> dict:
    return {"verb": verb, "config": config, "inputs": inputs, **extra}


def _differences(old: dict, new: dict) -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key == "inputs" and isinstance(a, dict) and isinstance(b, dict):
            for g in sorted(set(a) | set(b)):
                da, db = a.get(g) or {}, b.get(g) or {}
                if set(da) != set(db):
                    out.append(f"{g} dirs were {sorted(da)}, now {sorted(db)}")
                else:
                    out += [f"{g} dir {p} changed since (features, CMVN or text)"
                            for p in sorted(da) if da[p] != db[p]]  # fmt: skip
        else:
            out.append(f"{key} was {a!r}, now {b!r}")
    return out


def check_request(exp: str | Path, request: dict, outputs: tuple[str, ...],
                  force: bool = False) -> str:  # fmt: skip
    """``"skip"``, ``"resume"`` or ``"new"`` for ``request`` in ``exp``.

    ``outputs``: the names this step writes in ``exp`` (any of them present without
    a matching ``request.json`` means the dir holds someone else's work). With
    ``force`` those outputs are removed first (a fresh start). Raises
    :class:`StaleError` when ``exp`` holds work for another request.
    """
    exp = Path(exp)
    if exp.exists() and not exp.is_dir():
        raise StaleError(f"{exp}: exists and is not a directory")
    req_file = exp / REQUEST_FILE
    if force:
        for name in (*outputs, REQUEST_FILE, DONE_FILE):
            p = exp / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        return "new"
    present = [n for n in outputs if (exp / n).exists()]
    if req_file.is_file() and not present:
        return "new"  # a run that failed before writing anything: nothing to keep
    if req_file.is_file():
        try:
            old = json.loads(req_file.read_text())
        except ValueError:
            old = {}
        diff = _differences(old, request)
        if not diff:
            return "skip" if (exp / DONE_FILE).is_file() else "resume"
        raise StaleError(
            f"{exp} holds a model made for another request: " + "; ".join(diff)
            + f". Remove {exp}, choose another output dir, or pass --force to "
            "retrain from scratch")  # fmt: skip
    if present:
        raise StaleError(
            f"{exp} holds outputs ({', '.join(present)}) with no {REQUEST_FILE}: they "
            f"were made by an older version or by hand, so they cannot be checked. "
            f"Remove {exp}, choose another output dir, or pass --force")  # fmt: skip
    return "new"


def _torchrun() -> bool:
    """True in a process started by torchrun (one per rank): then rank 0 alone
    decides and writes (``pipeline.distributed``, which imports torch, is loaded
    only then)."""
    return os.environ.get("LOCAL_RANK") is not None


def atomic_text(path: str | Path, text: str) -> None:
    """Write ``path`` through a temp file beside it and a rename: a reader never
    sees half of it (the project's one tmp + rename text writer)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_request(exp: str | Path, request: dict) -> None:
    if _torchrun():
        from pipeline import distributed as ddp

        if not ddp.is_main():
            return
    exp = Path(exp)
    exp.mkdir(parents=True, exist_ok=True)
    atomic_text(exp / REQUEST_FILE, json.dumps(request, indent=1, sort_keys=True) + "\n")


def mark_done(exp: str | Path) -> None:
    (Path(exp) / DONE_FILE).write_text("done\n")


def skip_or_refuse(what: str, exp, request: dict, outputs: tuple[str, ...],
                   force: bool = False, device: str = "cpu") -> int | None:  # fmt: skip
    """For a training verb: the exit status when there is nothing to do (0 after
    printing ``skip: WHAT EXP (done)``; 2 after printing why ``exp`` holds another
    request's work), or None when training should start or resume. Under torchrun
    the process group is joined first (on ``device``) and rank 0 alone decides
    (and prints, and with ``force`` clears); every rank gets its answer."""
    if _torchrun():
        from pipeline import distributed as ddp

        ddp.init(device)
        rc = ddp.on_main(_skip_or_refuse, what, exp, request, outputs, force)
        if rc is not None:  # nothing to train: leave the group before exiting (a
            ddp.destroy()   # process that exits in it aborts: "terminate called ...")
        return rc
    return _skip_or_refuse(what, exp, request, outputs, force)


def _skip_or_refuse(what, exp, request, outputs, force) -> int | None:
    import sys

    try:
        state = check_request(exp, request, outputs, force=force)
    except StaleError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if state == "skip":
        print(f"skip: {what} {exp} (done)")
        return 0
    return None
