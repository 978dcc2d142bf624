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
