"""What every ``python -m <package>`` entry point shares: logging set-up (entry
points configure logging, libraries never do) and exit codes (0 ok, 1 bad data,
2 usage error, as argparse does)."""

from __future__ import annotations

import argparse
import logging
import sys


def run(parser: argparse.ArgumentParser, argv=None,
        data_errors: tuple[type[BaseException], ...] = ()) -> int:  # fmt: skip
    """Parse ``argv``, configure logging, call ``args.func(args)``.

    Exceptions in ``data_errors`` (bad input: their message names the file and
    line) are printed without a traceback and give exit status 1.
    """
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except data_errors as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


# ------------------------------------------------------------ one CLI convention
# Every verb follows these (tests/test_cli_help.py walks every verb to check):
# on/off options are argparse flags (--force, --no-progress; no "--x true"), --nj N
# is a number of parallel jobs (processes), --threads N a number of torch CPU
# threads, --device is cpu or cuda, and every option has a help text.
def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="where the model runs (default cpu)")  # fmt: skip


def add_threads(p: argparse.ArgumentParser, default: int = 1) -> None:
    what = "torch's default" if default == 0 else str(default)
    p.add_argument("--threads", type=int, default=default,
                   help=f"torch CPU threads (default {what}; 0: torch's default). On "
                        "a shared machine, more threads than free cores makes each "
                        "step many times slower")  # fmt: skip


def add_no_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def check_out_dir(path) -> str | None:
    """A usage-error message when ``path`` cannot be an output dir (it exists and
    is not a directory), else None."""
    import os

    if os.path.lexists(path) and not os.path.isdir(path):
        return f"{path}: exists and is not a directory (expected an output dir)"
    return None


def out_dir(path: str) -> str:
    """argparse ``type`` of output-dir arguments: a usage error (exit 2) when the
    path names an existing file."""
    err = check_out_dir(path)
    if err:
        raise argparse.ArgumentTypeError(err)
    return path
