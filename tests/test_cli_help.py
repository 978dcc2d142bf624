"""The contract: `python -m pipeline --help` and `python -m data_prep --help` list
every verb, and each verb's --help works (exit 0)."""

from __future__ import annotations

import subprocess
import sys

import pytest

VERBS = {
    "pipeline": ["validate-data-dir", "fix-data-dir", "subset-data-dir",
                 "split-data-dir", "copy-data-dir", "combine-data-dirs", "make-feats",
                 "paste-feats",
                 "train-enhancer", "eval-enhancer", "enhance", "train-am", "decode",
                 "combine-decodes", "make-lm",
                 "score", "report"],
    "data_prep": ["simgrid", "simwsj", "corrupt-data-dir", "chime2-grid", "chime2-wsj0"],
}  # fmt: skip


def _help(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args, "--help"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.parametrize("package", sorted(VERBS))
def test_help_lists_every_verb(package):
    r = _help(package)
    assert r.returncode == 0, r.stderr
    for verb in VERBS[package]:
        assert verb in r.stdout, (package, verb)
        sub = _help(package, verb)
        assert sub.returncode == 0 and "usage:" in sub.stdout, (verb, sub.stderr)


def _verbs():
    """(package, verb, subparser) of every verb, from the parsers themselves."""
    import argparse

    from data_prep.__main__ import build_parser as data_prep_parser
    from pipeline.__main__ import build_parser as pipeline_parser

    for package, build in (("pipeline", pipeline_parser), ("data_prep", data_prep_parser)):
        for action in build()._actions:
            if isinstance(action, argparse._SubParsersAction):
                for verb, sub in action.choices.items():
                    yield package, verb, sub


def test_every_verb_is_walked():
    found = {(p, v) for p, v, _ in _verbs()}
    assert found == {(p, v) for p, vs in VERBS.items() for v in vs}


def test_one_cli_convention():
    """Every verb: on/off options are argparse flags (no value; --no-progress, never
    --progress), --nj counts parallel jobs, --threads torch threads, --device is
    cpu|cuda, and every argument has a help text."""
    import argparse

    problems = []
    for package, verb, sub in _verbs():
        for act in sub._actions:
            if isinstance(act, argparse._HelpAction):
                continue
            name = f"{package} {verb} {(act.option_strings or [act.dest])[-1]}"
            opts = set(act.option_strings)
            if not act.help:
                problems.append(f"{name}: no help text")
            if isinstance(act.default, bool) and act.nargs != 0:
                problems.append(f"{name}: an on/off option must be a flag")
            if act.choices is not None and {"true", "false"} & set(map(str, act.choices)):
                problems.append(f"{name}: true/false value instead of a flag")
            if "--progress" in opts:
                problems.append(f"{name}: progress is on by default (--no-progress)")
            if act.dest == "device" and list(act.choices or []) != ["cpu", "cuda"]:
                problems.append(f"{name}: --device must offer cpu and cuda")
            if "--nj" in opts and "parallel jobs" not in (act.help or ""):
                problems.append(f"{name}: --nj is a number of parallel jobs")
            if "--threads" in opts and "threads" not in (act.help or ""):
                problems.append(f"{name}: --threads is a number of torch threads")
            if act.dest == "no_progress" and opts != {"--no-progress"}:
                problems.append(f"{name}: spelt --no-progress")
    assert not problems, "\n".join(problems)
