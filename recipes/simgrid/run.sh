#!/usr/bin/env bash
# Default recipe on the simulated CHiME-2 Track 1-style corpus (simgrid).
# Everything is written under recipes/simgrid/{data,exp}.
#
# Stages:
#   0  simulate the corpus: TTS + rooms + noise -> data/{train,dev,test}_{clean,reverb,noisy},
#      data/{dev,test}_noisy_{m6dB,m3dB,0dB,3dB,6dB,9dB} (wavs under corpus/)
#   1  features: Kaldi-compatible $feat_kind + CMVN stats for every data dir -> data/*/feats.scp
# (front-end training, enhancement, acoustic models, decoding and scoring come next)
set -euo pipefail
cd "$(dirname "$0")"
. ../utils/path.sh
. ../utils/log.sh

stage=0
stop_stage=100
quick=false        # true: tiny corpus and models, minutes on 2 cores
device=cpu         # cpu | cuda
nj=2               # parallel jobs
frontends="dnn lstm gan"
force=false        # true: redo stages whose outputs are complete
seed=0
feat_kind=fbank    # fbank | mfcc | mfcc_hires

help_message="Usage: $0 [options]
  --stage N          first stage to run (default $stage)
  --stop-stage M     last stage to run (default $stop_stage)
  --quick true       tiny corpus and models (default $quick)
  --device cpu|cuda  (default $device)
  --nj N             parallel jobs (default $nj)
  --frontends LIST   front-ends to train/evaluate (default \"$frontends\")
  --force true       redo finished stages (default $force)
  --seed N           corpus and training seed (default $seed)
  --feat-kind K      fbank | mfcc | mfcc_hires (default $feat_kind)
Stages: 0 simulate corpus, 1 features (+CMVN)."
. ../utils/parse_options.sh

if [ $# -ne 0 ]; then echo "$0: unexpected argument '$1' (see --help)" >&2; exit 2; fi
case "$device" in cpu|cuda) ;; *) echo "$0: --device must be cpu or cuda" >&2; exit 2 ;; esac

size=default
$quick && size=quick
forceflag=""
$force && forceflag="--force"
mkdir -p data exp/log

# run_step LOG CMD...: run a step with its output in LOG; on failure say which stage
# failed and where its log is, then stop the recipe.
run_step() {
  local logf=$1; shift
  mkdir -p "$(dirname "$logf")"
  if ! "$@" > "$logf" 2>&1; then
    tail -n 20 "$logf" >&2
    log "FAILED: $* (log: $(pwd)/$logf)"
    exit 1
  fi
}

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "Stage 0: simulate simgrid ($size, seed $seed): TTS + rooms + noise -> data/"
  # data_prep skips a corpus that is complete with the same size and seed
  run_step exp/log/simulate.log python -m data_prep simgrid data --size "$size" \
    --seed "$seed" --nj "$nj" --wav-dir corpus/wav $forceflag
  run_step exp/log/validate.log python -m pipeline validate-data-dir --no-feats \
    data/*_clean data/*_reverb data/*_noisy*
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "Stage 1: $feat_kind features + CMVN: data/*/wav.scp -> data/*/feats.scp, cmvn.scp"
  # make-feats skips dirs that already have complete features of this kind
  run_step exp/make_feats/log/make_feats.log python -m pipeline make-feats \
    --kind "$feat_kind" --nj "$nj" --no-progress $forceflag \
    data/*_clean data/*_reverb data/*_noisy*
  run_step exp/make_feats/log/validate.log python -m pipeline validate-data-dir \
    data/*_clean data/*_reverb data/*_noisy*
fi

log "Done (stages $stage..$stop_stage)."
