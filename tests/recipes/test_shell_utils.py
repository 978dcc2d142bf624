"""The recipes' shell helpers (recipes/utils/log.sh): run_step and the job pool; and
that the recipes answer --help with nothing installed."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

LOG_SH = Path(__file__).resolve().parents[2] / "recipes" / "utils" / "log.sh"


def _bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f"set -euo pipefail; . {LOG_SH}\n{script}"],
                          cwd=cwd, capture_output=True, text=True, timeout=60)


def test_pool_runs_every_job_at_most_n_at_a_time(tmp_path):
    # each job records how many jobs were running when it started
    r = _bash("""
job() {  # job NAME: note start, sleep, note end
  echo start >> events; sleep 0.4; echo end >> events; echo "$1" > "done_$1"
}
pool_init 2
for n in a b c d e; do pool_run "job $n" job $n; done
pool_wait
echo all-done
""", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "all-done"
    done = sorted(p.name for p in tmp_path.glob("done_*"))
    assert done == [f"done_{n}" for n in "abcde"]
    running = peak = 0
    for ev in (tmp_path / "events").read_text().split():
        running += 1 if ev == "start" else -1
        peak = max(peak, running)
    assert peak == 2
    # every job says when it started and when it was done, with its duration
    for n in "abcde":
        assert f"start: job {n}" in r.stderr
        assert re.search(rf"done: job {n} in \d+\.\d min", r.stderr), r.stderr


def test_pool_names_the_failed_job_and_exits_1(tmp_path):
    r = _bash("""
pool_init 2
pool_run "good job" run_step log/good.log bash -c 'sleep 0.2'
pool_run "bad job" run_step log/bad.log bash -c 'echo broken input >&2; exit 3'
pool_wait
echo not-reached
""", tmp_path)
    assert r.returncode == 1
    assert "not-reached" not in r.stdout
    assert "FAILED: bad job" in r.stderr  # pool_wait names it
    assert "done: bad job" not in r.stderr
    assert "log/bad.log" in r.stderr and "broken input" in r.stderr  # run_step's tail
    assert "good job" not in r.stderr.split("FAILED:")[-1]


def test_pool_stops_the_others_when_a_job_fails_while_waiting(tmp_path):
    t0 = time.time()
    r = _bash("""
pool_init 2
pool_run slow run_step log/slow.log sleep 30
pool_run bad run_step log/bad.log bash -c 'exit 2'
pool_run never run_step log/never.log touch never_started
pool_wait
""", tmp_path)
    assert r.returncode == 1
    assert time.time() - t0 < 20  # the 30 s job was stopped, not waited for
    assert not (tmp_path / "never_started").exists()
    assert "a job failed" in r.stderr


def test_pool_starts_a_job_when_its_dependencies_are_done(tmp_path):
    """--after: a job starts only when the jobs it names have ended, and as soon
    as they have (not when every job queued before it has); a free slot takes the
    highest --prio among the ready jobs, then the first queued; an id that was
    never queued counts as done (an earlier run's work)."""
    r = _bash("""
job() { echo "start $1" >> events; sleep "$2"; echo "end $1" >> events; }
pool_init 2
pool_run --id base "base" job base 3
pool_run --id fe "fe" job fe 0.3
pool_run --id enh --after "fe" "enh" job enh 0.3
pool_run --id ft --after "base enh earlier_run" "ft" job ft 0.3
pool_run --id low "low" job low 0.3
pool_run --id high --prio 5 "high" job high 0.3
pool_wait
""", tmp_path)
    assert r.returncode == 0, r.stderr
    ev = (tmp_path / "events").read_text().splitlines()
    at = {e: i for i, e in enumerate(ev)}
    # queued last, but first by priority; then the first ready in queue order
    assert ev[:2] == ["start high", "start base"]
    assert at["end high"] < at["start fe"] < at["end fe"] < at["start enh"]
    # enh waited for fe only, not for base (queued before it)
    assert at["start enh"] < at["end base"]
    # ft waited for both of its dependencies; low (no dependency) went first
    assert at["end base"] < at["start ft"] and at["end enh"] < at["start ft"]
    assert at["start low"] < at["start ft"]


def test_pool_never_starts_the_dependents_of_a_failed_job(tmp_path):
    r = _bash("""
pool_init 2
pool_run --id a "a" run_step log/a.log bash -c 'exit 3'
pool_run --id b --after a "b" run_step log/b.log touch b_ran
pool_wait
""", tmp_path)
    assert r.returncode == 1
    assert "FAILED: a" in r.stderr
    assert not (tmp_path / "b_ran").exists() and "start: b" not in r.stderr


def test_recipe_help_needs_nothing_installed(tmp_path):
    # a copy of recipes/ with no .venv beside it and no project python on PATH:
    # --help and usage errors must still answer (path.sh comes after the options)
    import shutil

    shutil.copytree(LOG_SH.parents[1], tmp_path / "recipes",
                    ignore=shutil.ignore_patterns("data*", "exp*", "corpus"))  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for recipe in ("simgrid", "chime2"):
        run = tmp_path / "recipes" / recipe / "run.sh"
        r = subprocess.run(["bash", str(run), "--help"], env=env, capture_output=True,
                           text=True, timeout=30)  # fmt: skip
        assert r.returncode == 0 and "--stage N" in r.stdout, r.stderr
        r = subprocess.run(["bash", str(run), "--no-such-option", "1"], env=env,
                           capture_output=True, text=True, timeout=30)  # fmt: skip
        assert r.returncode == 2 and "unknown option" in r.stderr


def test_run_step_keeps_the_log_of_the_run_that_did_the_work(tmp_path):
    """A rerun whose command only reports skipped work leaves the log alone and
    says so on the console; a command that does work replaces the log; a failing
    one leaves its own log at the named place."""
    r = _bash("""
run_step log/train.log bash -c 'echo "epoch 1: loss 3"; echo "epoch 2: loss 2"'
run_step log/train.log bash -c 'echo "skip: train-am exp/mct (done)"'
run_step log/train.log bash -c 'echo "skip: decode a (done)"; echo "skip: decode b (done)"'
""", tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "log/train.log").read_text() == "epoch 1: loss 3\nepoch 2: loss 2\n"
    assert "skip: train-am exp/mct (done)" in r.stderr
    assert "skip: decode a (done) and 1 more" in r.stderr
    assert not list((tmp_path / "log").glob("*.running"))
    r = _bash("run_step log/train.log bash -c 'echo redone'", tmp_path)
    assert (tmp_path / "log/train.log").read_text() == "redone\n"
    r = _bash("run_step log/train.log bash -c 'echo broken; exit 3'", tmp_path)
    assert r.returncode == 1 and "log/train.log" in r.stderr
    assert (tmp_path / "log/train.log").read_text() == "broken\n"


def test_every_recipe_option_the_readme_names_is_in_the_recipes_help():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()

    def section(start: str, end: str) -> str:
        a = readme.index(start)
        b = readme.find(end, a + len(start))
        return readme[a:b if b > 0 else None]

    run_lines = "\n".join(ln for ln in readme.splitlines() if "./run.sh" in ln)
    texts = {"simgrid": section("## The default recipe", "\n### ") + run_lines,
             "chime2": section("## CHiME-2", "\n## ")}  # fmt: skip
    root = Path(__file__).resolve().parents[2] / "recipes"
    for recipe, text in texts.items():
        opts = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text)) - {"--help"}
        assert opts, recipe
        h = subprocess.run(["bash", str(root / recipe / "run.sh"), "--help"],
                           capture_output=True, text=True, timeout=30)  # fmt: skip
        missing = sorted(o for o in opts if o not in h.stdout + h.stderr)
        assert not missing, (recipe, missing)


_FAKE_SBATCH = r"""#!/usr/bin/env bash
# records its arguments, then does what sbatch --wait does: runs --wrap's command
# in --chdir with its output in --output, and exits with its status
echo "$*" >> "$SBATCH_CALLS"
while [ $# -gt 0 ]; do
  case "$1" in
    --output) out=$2; shift ;;
    --chdir) dir=$2; shift ;;
    --wrap) wrap=$2; shift ;;
  esac
  shift
done
cd "$dir" && sh -c "$wrap" > "$out" 2>&1
"""


def test_run_step_through_slurm_sbatch_options_and_exit_status(tmp_path):
    """--cmd slurm: each step is one 'sbatch --wait' whose output is the step's
    log: the class's options from the conf file, CPUs from --nj / --threads /
    --nproc_per_node, a GPU per process for training on cuda; a failing job
    stops the recipe naming its log."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sbatch").write_text(_FAKE_SBATCH)
    (bindir / "sbatch").chmod(0o755)
    (tmp_path / "slurm.conf").write_text(
        "# comment\ndefault --time=1:00:00 --mem=2G\ntrain --partition=gpu --mem=8G\n")
    calls = tmp_path / "calls"
    r = _bash(f"""
export PATH={bindir}:$PATH SBATCH_CALLS={calls}
cmd=slurm slurm_conf={tmp_path}/slurm.conf device=cuda ngpu=2
run_step exp/log/feats.log echo make-feats --nj 3 "a b"
run_step exp/am/log/train.log echo torchrun --nproc_per_node 2 -m pipeline train-am --threads 1
run_step exp/log/bad.log sh -c 'echo broken; exit 3'
""", tmp_path)
    assert r.returncode == 1  # the failed step stopped it
    assert "FAILED" in r.stderr and "exp/log/bad.log" in r.stderr and "broken" in r.stderr
    feats, train, bad = calls.read_text().splitlines()
    assert "--wait" in feats and "--cpus-per-task 3" in feats and "--mem=2G" in feats
    assert "gres" not in feats and "--output exp/log/feats.log.running" in feats
    assert "--partition=gpu --mem=8G" in train and "--gres=gpu:2" in train
    assert "--cpus-per-task 2" in train
    assert (tmp_path / "exp/log/feats.log").read_text() == "make-feats --nj 3 a b\n"
    assert (tmp_path / "exp/log/bad.log").read_text().startswith("broken")


def test_features_through_slurm_are_one_job_per_part(tmp_path):
    """--cmd slurm --nj 4: feats_step splits each dir (into 3 parts: it has 3
    speakers, and a speaker never spans two parts), runs make-feats on every
    part as its own sbatch job and merges: the dirs end complete, with the
    features the local recipe's make-feats --nj 2 gives, bit for bit."""
    import sys

    import kaldiio
    import numpy as np

    from pipeline.datadir import DataDir
    from pipeline.make_feats import has_feats, make_feats
    from tests.conftest import make_datadir

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sbatch").write_text(_FAKE_SBATCH)
    (bindir / "sbatch").chmod(0o755)
    (tmp_path / "slurm.conf").write_text("default --mem=1G\n")
    a = make_datadir(tmp_path, n_spk=3, n_utt=2, name="a")
    b = make_datadir(tmp_path, n_spk=3, n_utt=2, name="b")
    ref = make_datadir(tmp_path, n_spk=3, n_utt=2, name="ref")
    make_feats(ref, nj=2, progress=False)  # the local recipe's --nj 2
    calls = tmp_path / "calls"
    scale = LOG_SH.parent / "scale_opts.sh"
    r = _bash(f"""
export PATH={bindir}:{Path(sys.executable).parent}:$PATH SBATCH_CALLS={calls}
. {scale}
cmd=slurm slurm_conf={tmp_path}/slurm.conf nj=4 forceflag=""
feats_step exp/log {a} {b}
""", tmp_path)
    assert r.returncode == 0, r.stderr
    jobs = calls.read_text().splitlines()
    parts = [j for j in jobs if "make-feats" in j and "merge-split" not in j]
    assert len(parts) == 6 and all("split3" in j for j in parts)  # 2 dirs x 3 parts
    for d in (a, b):
        dd = DataDir.load(d).validate()
        assert has_feats(dd, "fbank")
        for u, e in dd.feats_scp.items():
            np.testing.assert_array_equal(kaldiio.load_mat(e),
                                          kaldiio.load_mat(DataDir.load(ref).feats_scp[u]))
