"""``python -m data_prep <corpus> ...``: write Kaldi data dirs for a corpus.

Exit codes: 0 ok, 1 bad corpus (the message names the path), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys


def cmd_simgrid(a) -> int:
    from data_prep.simgrid import prepare_simgrid

    dirs = prepare_simgrid(
        a.out_dir, size=a.size, seed=a.seed, nj=a.nj, wav_dir=a.wav_dir,
        progress=not a.no_progress, force=a.force,
    )  # fmt: skip
    print(f"{a.out_dir}: {len(dirs)} data dirs")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m data_prep",
        description="Prepare Kaldi data dirs for a corpus.",
        epilog="Run 'python -m data_prep CORPUS --help' for a corpus's options.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="corpus", metavar="CORPUS", required=True)

    s = sub.add_parser(
        "simgrid",
        help="synthesize the simulated CHiME-2 Track 1-style corpus (no download)",
        description="Synthesize GRID-grammar speech (espeak-ng voices), reverberate "
        "it in simulated rooms, add reverberated noise at -6..9 dB SNR, and write "
        "data dirs {train,dev,test}_{clean,reverb,noisy} and "
        "{dev,test}_noisy_{m6dB,m3dB,0dB,3dB,6dB,9dB} under OUT_DIR.",
    )
    s.add_argument("out_dir", help="where the data dirs go")
    s.add_argument("--size", default="default", choices=["quick", "default"],
                   help="quick: tens of utterances (seconds); default: >=3000 train "
                        "utterances, >=100 per SNR for dev and test")  # fmt: skip
    s.add_argument("--seed", type=int, default=0, help="same seed, same wavs")
    s.add_argument("--nj", type=int, default=1, help="parallel jobs")
    s.add_argument("--wav-dir", default=None, help="where wavs go (default OUT_DIR/wav)")
    s.add_argument("--force", action="store_true", help="rebuild even if complete")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_simgrid)
    return p


def main(argv=None) -> int:
    from pipeline.cli import run
    from pipeline.datadir import DataDirError

    return run(build_parser(), argv, data_errors=(DataDirError, FileNotFoundError))


if __name__ == "__main__":
    sys.exit(main())
