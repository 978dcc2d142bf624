#!/usr/bin/env bash
# CHiME-2 reproduction on the real corpora (you need them; nothing is downloaded).
#   Track 1 (GRID, small vocabulary):  ./run.sh --track 1 --chime2-root /path/CHiME2
#   Track 2 (WSJ0-5k, medium vocab.):   ./run.sh --track 2 --chime2-root /path/CHiME2 \
#                                                --wsj0-root /path/WSJ0
# Everything is written under recipes/chime2/{data,exp}_track<N>.
#
# Stages (as recipes/simgrid/run.sh, with corpus preparation instead of simulation):
#   0  prepare data dirs (data_prep chime2-grid / chime2-wsj0) -> data_track<N>/
#   1  features: 40-d log-mel fbank + CMVN
#   2  front-ends: Track 1 (noisy + reverb -> clean); Track 2 has no dry audio, so
#      noisy -> reverberated ('target: reverb', as ESPnet's chime2 recipe does)
#   3  enhance train/dev/test through each front-end -> data_track<N>/enh_<fe>/<set>
#      (--fe-am-input paste: also pasted beside the unprocessed features ->
#      data_track<N>/paste_<fe>/<set>, what the mct_<fe> AMs then see)
#   4  acoustic models: clean (Track 1 only), mct, mct_<fe>: Track 1 word units
#      (conf of recipes/simgrid), Track 2 characters (conf/am_track2.yaml)
#   5  decode every AM x front-end x test set -> exp_track<N>/<am>/decode_<fe>_<set>/
#      Track 1: search through the GRID grammar. Track 2: the word n-gram LM (--lm;
#      default WSJ0's 5k closed-vocabulary trigram tcb05cnp.z or bigram bcb05cnp.z
#      found under --wsj0-root, else a Kneser-Ney trigram of the training text),
#      LM weight and word score tuned on dev_dt_05_noisy with the mct AM; also
#      decoded without the LM -> exp_track2/nolm/<am>/decode_*
#      Track 1 with two or more front-ends: their mct_<fe> AMs combined (GRID slot
#      posteriors averaged: combine-decodes) -> exp_track1/mct_<fe1>+<fe2>+.../
#      decode_<fe1>+<fe2>+..._<set>, scored and reported beside them
#   6  score and report (Track 1: keyword accuracy per SNR; Track 2: WER per SNR,
#      exp_track2/report.md with the LM, exp_track2/nolm/report.md without)
set -euo pipefail
cd "$(dirname "$0")"
. ../utils/log.sh

stage=0
stop_stage=100
track=1
chime2_root=""
wsj0_root=""
channel=left       # left | right | mean (CHiME-2 audio is binaural)
device=cpu
nj=2
frontends="dnn lstm gan"
fe_am_input=enhanced  # what mct_<fe> AMs see: enhanced (as Han et al.) | paste
force=false
seed=0
enh_conf=../simgrid/conf   # front-end configs (enhance_<fe>.yaml)
am_conf=""         # default: Track 1 ../simgrid/conf/am_default.yaml, Track 2 conf/am_track2.yaml
am_clean_conf=""   # Track 1's clean AM (default: --am-conf)
lm=""              # Track 2's ARPA LM (default: WSJ0's, else built from the training text)
. ../utils/lm.sh   # --lm-order --lm-weights --word-scores, tune_lm
. ../utils/combine.sh  # combine_mct: the mct_<fe> AMs' system combination
. ../utils/scale_opts.sh  # --cmd --slurm-conf --ngpu, scale_setup

help_message="Usage: $0 --track 1|2 --chime2-root DIR [--wsj0-root DIR] [options]
  --track 1|2          CHiME-2 Track 1 (GRID) or Track 2 (WSJ0-5k) (default $track)
  --chime2-root DIR    holds data/chime2-grid/ (Track 1) or data/chime2-wsj0/ (Track 2)
  --wsj0-root DIR      WSJ0 with its *.dot transcripts (Track 2)
  --channel C          left | right | mean of the binaural audio (default $channel)
  --stage N --stop-stage M --device cpu|cuda --nj N --force true --seed N
  --frontends LIST     (default \"$frontends\")
  --fe-am-input enhanced|paste
                       what the mct_<fe> AMs see: the front-end's output, or it
                       pasted beside the unprocessed features (Kaldi's paste-feats
                       -> data_track<N>/paste_<fe>/<set>) (default $fe_am_input)
  --enh-conf DIR       front-end configs enhance_<fe>.yaml (default $enh_conf)
  --am-conf FILE       acoustic model config (default: Track 1 word units,
                       ../simgrid/conf/am_default.yaml; Track 2 characters,
                       conf/am_track2.yaml)
  --am-clean-conf FILE Track 1's clean AM config (default: --am-conf)
  --lm FILE            Track 2: ARPA LM, plain, .gz or Unix-compress .z (default:
                       tcb05cnp.z or bcb05cnp.z under --wsj0-root, else a
                       Kneser-Ney trigram of the training text)
$lm_help
$scale_help"
. ../utils/parse_options.sh
. ../utils/path.sh  # after the options: --help works before anything is installed

if [ $# -ne 0 ]; then echo "$0: unexpected argument '$1' (see --help)" >&2; exit 2; fi
case "$track" in 1|2) ;; *) echo "$0: --track must be 1 or 2" >&2; exit 2 ;; esac
case "$fe_am_input" in enhanced|paste) ;; *)
  echo "$0: --fe-am-input must be enhanced or paste, not '$fe_am_input'" >&2; exit 2 ;;
esac
if [ "$stage" -le 0 ] && [ -z "$chime2_root" ]; then
  echo "$0: --chime2-root is required (see --help)" >&2; exit 2
fi
if [ "$stage" -le 0 ] && [ "$track" = 2 ] && [ -z "$wsj0_root" ]; then
  echo "$0: Track 2 needs --wsj0-root (transcripts)" >&2; exit 2
fi

scale_setup
data=data_track$track
exp=exp_track$track
forceflag=""
$force && forceflag="--force"
snrs="m6dB m3dB 0dB 3dB 6dB 9dB"
if [ "$track" = 1 ]; then
  train=train_grid; dev=devel_grid; test=test_grid
  train_sets="${train}_clean ${train}_reverb ${train}_noisy"
  ams="clean mct"
  test_sets="${test}_clean"
  [ -n "$am_conf" ] || am_conf=../simgrid/conf/am_default.yaml
else
  train=train_si84; dev=dev_dt_05; test=test_eval92_5k
  train_sets="${train}_reverb ${train}_noisy"
  ams="mct"
  test_sets=""
  [ -n "$am_conf" ] || am_conf=conf/am_track2.yaml
fi
for s in $snrs; do test_sets="$test_sets ${test}_noisy_$s"; done
mkdir -p "$data" "$exp/log"
all_sets() { ls -d "$data/${train}"_* "$data/${dev}"_* "$data/${test}"_* 2>/dev/null; }

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "Stage 0: prepare CHiME-2 Track $track data dirs: $chime2_root -> $data/"
  if [ "$track" = 1 ]; then
    run_step "$exp/log/prepare.log" python -m data_prep chime2-grid "$chime2_root" \
      "$data" --channel "$channel"
  else
    run_step "$exp/log/prepare.log" python -m data_prep chime2-wsj0 "$chime2_root" \
      "$wsj0_root" "$data" --channel "$channel"
  fi
  run_step "$exp/log/validate.log" python -m pipeline validate-data-dir --no-feats $(all_sets)
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "Stage 1: fbank + CMVN ($channel channel): $data/*/wav.scp -> feats.scp, cmvn.scp"
  feats_step "$exp/make_feats/log" $(all_sets)
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  if [ "$track" = 1 ]; then
    log "Stage 2: front-ends: ${train}_{noisy,reverb} -> ${train}_clean => $exp/enhance/<fe>"
    targets="--clean $data/${train}_clean --dev-clean $data/${dev}_clean"
    inputs="--noisy $data/${train}_noisy,$data/${train}_reverb"
    inputs="$inputs --dev-noisy $data/${dev}_noisy_0dB,$data/${dev}_reverb"
    overrides="target: clean"
  else
    log "Stage 2: front-ends: ${train}_noisy -> ${train}_reverb (target: reverb) => $exp/enhance/<fe>"
    # Kaldi's Track 2 utt-ids end in a condition digit: strip it to pair the dirs
    for s in ${train}_noisy ${train}_reverb ${dev}_noisy_0dB ${dev}_reverb; do
      run_step "$exp/log/pair_$s.log" python -m pipeline copy-data-dir \
        "$data/$s" "$data/paired/$s" --strip-utt-suffix 1
    done
    inputs="--noisy $data/paired/${train}_noisy --dev-noisy $data/paired/${dev}_noisy_0dB"
    targets="--reverb $data/paired/${train}_reverb --dev-reverb $data/paired/${dev}_reverb"
    overrides="target: reverb"
  fi
  pool_init "$nj"  # $nj one-thread jobs side by side
  for fe in $frontends; do
    if $force; then rm -rf "$exp/enhance/$fe"; fi
    pool_run "front-end $fe ($exp/enhance/$fe/log/train.log)" \
      run_step "$exp/enhance/$fe/log/train.log" $train_launcher train-enhancer \
      --config "$enh_conf/enhance_$fe.yaml" --overrides "$overrides" $inputs $targets \
      --out "$exp/enhance/$fe" --device "$device" --seed "$seed" --threads 1 \
      --no-progress
  done
  pool_wait
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  log "Stage 3: enhance: $data/<set> -> $data/enh_<fe>/<set> for $frontends$(
    [ "$fe_am_input" = paste ] && echo "; pasted beside $data/<set> -> $data/paste_<fe>/<set>")"
  enhance_fe() {  # enhance_fe FE: every set (skips done outputs); pasted if asked
    local pairs="" s
    for s in $train_sets ${dev}_noisy_0dB $test_sets; do
      pairs="$pairs $data/$s $data/enh_$1/$s"
    done
    run_step "$exp/enhance/$1/log/enhance.log" \
      python -m pipeline enhance --precision auto --model "$exp/enhance/$1" --threads 1 \
      --device "$device" --no-progress $forceflag $pairs
    [ "$fe_am_input" = paste ] || return 0
    run_step "$exp/enhance/$1/log/paste.log" python -m pipeline paste-feats --no-progress \
      $forceflag --sets "$train_sets ${dev}_noisy_0dB $test_sets" "$data/paste_$1" \
      "$data/enh_$1" "$data"
  }
  pool_init "$nj"
  for fe in $frontends; do pool_run "enhance $fe" enhance_fe "$fe"; done
  pool_wait
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  log "Stage 4: acoustic models: $ams$(for fe in $frontends; do printf ' mct_%s' "$fe"; done) -> $exp/<am>"
  train_am() {  # train_am AM TRAIN_DIRS DEV_DIR [CONF] (train-am resumes/skips/refuses)
    if $force; then rm -rf "$exp/$1"; fi
    pool_run "AM $1 ($exp/$1/log/train.log)" run_step "$exp/$1/log/train.log" \
      $train_launcher train-am --config "${4:-$am_conf}" --train "$2" --dev "$3" \
      --out "$exp/$1" --device "$device" --seed "$seed" --threads 1 --no-progress
  }
  pool_init "$nj"  # $nj one-thread jobs side by side
  if [ "$track" = 1 ]; then
    train_am clean "$data/${train}_clean" "$data/${dev}_clean" "${am_clean_conf:-$am_conf}"
  fi
  mct=""; for s in $train_sets; do mct="$mct,$data/$s"; done
  train_am mct "${mct#,}" "$data/${dev}_noisy_0dB"
  for fe in $frontends; do
    src="$data/enh_$fe"; [ "$fe_am_input" = paste ] && src="$data/paste_$fe"
    mct=""; for s in $train_sets; do mct="$mct,$src/$s"; done
    train_am "mct_$fe" "${mct#,}" "$src/${dev}_noisy_0dB"
  done
  pool_wait
fi

decode_opts=""  # Track 1: the GRID grammar as simgrid decodes it; Track 2: set from the tuned LM
# (--phases 3 needs an AM stride of 3 or more: --am-conf with a smaller one fails
# here with that message)
[ "$track" = 1 ] && decode_opts="--grammar grid --phases 3 --am-precision auto"
if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  decode_all() {  # decode_all AM FRONTEND OUT_ROOT
    local src=$data pairs=""
    [ "$2" = none ] || src="$data/enh_$2"
    [ "$1" = "mct_$2" ] && [ "$fe_am_input" = paste ] && src="$data/paste_$2"  # its own input
    for s in $test_sets; do pairs="$pairs $src/$s $3/$1/decode_$2_$s"; done
    run_step "$3/$1/log/decode_$2.log" python -m pipeline decode --am "$exp/$1" \
      $decode_opts --device "$device" --threads 1 $forceflag $pairs
  }
  decode_every() {  # decode_every OUT_ROOT: every AM x front-end, $nj at a time
    local am fe
    pool_init "$nj"
    for am in $ams; do
      pool_run "decode $am / none" decode_all "$am" none "$1"
      for fe in $frontends; do pool_run "decode $am / $fe" decode_all "$am" "$fe" "$1"; done
    done
    for fe in $frontends; do pool_run "decode mct_$fe / $fe" decode_all "mct_$fe" "$fe" "$1"; done
    pool_wait
  }
  if [ "$track" = 2 ]; then
    if [ -z "$lm" ] && [ -n "$wsj0_root" ]; then  # WSJ0's LMs (any case): the trigram first
      for name in tcb05cnp.z bcb05cnp.z; do
        [ -n "$lm" ] || lm=$(find -L "$wsj0_root" -type f -iname "$name" | sort | head -n 1)
      done
    fi
    if [ -z "$lm" ]; then
      log "Stage 5: no --lm and no WSJ0 LM found: ${lm_order}-gram of $data/${train}_reverb/text"
      run_step "$exp/lm/log/make_lm.log" python -m pipeline make-lm \
        --text "$data/${train}_reverb/text" --order "$lm_order" --out "$exp/lm/lm.arpa"
      lm=$exp/lm/lm.arpa
    fi
    [ -f "$lm" ] || { echo "$0: --lm $lm: no such file" >&2; exit 2; }
    log "Stage 5: LM $lm: weight and word score tuned on $data/${dev}_noisy with $exp/mct"
    tune_lm "$lm" "$exp/lm" "$exp/mct" "$data/${dev}_noisy"
  fi
  log "Stage 5: decode ($decode_opts): AM x front-end x {$test_sets} -> $exp/<am>/decode_<fe>_<set>"
  decode_every "$exp"
  combo=""; for fe in $frontends; do combo="$combo+$fe"; done; combo=${combo#+}
  if [ "$track" = 1 ] && [ "$combo" != "${combo#*+}" ]; then  # two or more front-ends
    log "Stage 5: combine mct_{${combo//+/,}} (slot posteriors) -> $exp/mct_$combo/decode_${combo}_<set>"
    combine_mct "$exp" "$combo" "$test_sets"
  fi
  if [ "$track" = 2 ]; then
    log "Stage 5: decode without the LM (best path) -> $exp/nolm/<am>/decode_<fe>_<set>"
    decode_opts=""
    decode_every "$exp/nolm"
  fi
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  for root in $exp $([ "$track" = 2 ] && echo "$exp/nolm"); do
    log "Stage 6: score and report -> $root/results.json, $root/report.md, $root/wer_vs_snr.png"
    run_step "$root/log/score.log" python -m pipeline score "$root"
    run_step "$root/log/report.log" python -m pipeline report "$root"
    log "Report: $(pwd)/$root/report.md"
  done
fi

log "Done (stages $stage..$stop_stage)."
