"""Fixtures for data_prep tests: the quick simgrid corpus, built once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def simgrid_quick(tmp_path_factory):
    """Tiny simgrid corpus (seed 0, nj=1): ``(out_dir, {name: data dir path})``."""
    from data_prep.simgrid import prepare_simgrid

    out = tmp_path_factory.mktemp("simgrid_quick")
    dirs = prepare_simgrid(out, size="tiny", seed=0, nj=1, progress=False)
    return out, dirs
