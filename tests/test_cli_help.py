"""The contract: `python -m pipeline --help` and `python -m data_prep --help` list
every verb, and each verb's --help works (exit 0)."""

from __future__ import annotations

import subprocess
import sys

import pytest

VERBS = {
    "pipeline": ["validate-data-dir", "fix-data-dir", "subset-data-dir",
                 "split-data-dir", "copy-data-dir", "combine-data-dirs", "make-feats",
                 "train-enhancer", "eval-enhancer", "enhance", "train-am", "decode",
                 "score", "report"],
    "data_prep": ["simgrid", "chime2-grid", "chime2-wsj0"],
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
