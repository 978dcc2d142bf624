#!/usr/bin/env bash
# Default recipe on the simulated CHiME-2 Track 1-style corpus (simgrid).
# Everything is written under recipes/simgrid/{data,exp} (wavs under corpus/).
#
# Stages:
#   0  simulate the corpus: TTS + rooms + noise -> data/{train,dev,test}_{clean,reverb,noisy},
#      data/{dev,test}_noisy_{m6dB,m3dB,0dB,3dB,6dB,9dB}
#   1  features: 40-d log-mel fbank + CMVN stats -> data/*/feats.scp, cmvn.scp
#   2  front-ends: train each of $frontends on (train_noisy + train_reverb -> train_clean)
#      -> exp/enhance/<fe>/ (+ test MSE/LSD in its metrics.json)
#   3  enhance: every train/dev/test set through each front-end -> data/enh_<fe>/<set>
#   4  acoustic models: clean, mct, mct_<fe> -> exp/<am>/
#   5  decode every AM x front-end x test set -> exp/<am>/decode_<fe>_<set>/{hyp,ref,wer}
#   6  score and report -> exp/results.json, exp/report.md, exp/wer_vs_snr.png
set -euo pipefail
cd "$(dirname "$0")"
. ../utils/log.sh

stage=0
stop_stage=100
quick=false        # true: tiny corpus and models, minutes on 2 cores
device=cpu         # cpu | cuda
nj=2               # parallel jobs (models train side by side, one thread each)
frontends="dnn lstm gan"
force=false        # true: redo stages whose outputs are complete
seed=0

help_message="Usage: $0 [options]
  --stage N          first stage to run (default $stage)
  --stop-stage M     last stage to run (default $stop_stage)
  --quick true       tiny corpus and models (default $quick)
  --device cpu|cuda  (default $device)
  --nj N             parallel jobs; models train N at a time (default $nj)
  --frontends LIST   front-ends to train/evaluate (default \"$frontends\")
  --force true       redo finished stages (default $force)
  --seed N           corpus and training seed (default $seed)
Stages: 0 simulate corpus, 1 features (+CMVN), 2 train front-ends, 3 enhance,
4 train AMs (clean, mct, mct_<frontend>), 5 decode, 6 score and report.
Outputs: data/, exp/ (report: exp/report.md, exp/wer_vs_snr.png)."
. ../utils/parse_options.sh
. ../utils/path.sh  # after the options: --help works before anything is installed

if [ $# -ne 0 ]; then echo "$0: unexpected argument '$1' (see --help)" >&2; exit 2; fi
case "$device" in cpu|cuda) ;; *) echo "$0: --device must be cpu or cuda" >&2; exit 2 ;; esac

size=default
conf_sfx=""
if $quick; then size=quick; conf_sfx="_quick"; fi
forceflag=""
$force && forceflag="--force"
snrs="m6dB m3dB 0dB 3dB 6dB 9dB"
train_sets="train_clean train_reverb train_noisy"
dev_sets="dev_clean dev_reverb dev_noisy"
test_sets="test_clean test_reverb"
for s in $snrs; do test_sets="$test_sets test_noisy_$s"; done
mkdir -p data exp/log

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "Stage 0: simulate simgrid ($size, seed $seed): TTS + rooms + noise -> data/"
  # data_prep skips a corpus that is complete with the same size and seed
  run_step exp/log/simulate.log python -m data_prep simgrid data --size "$size" \
    --seed "$seed" --nj "$nj" --wav-dir corpus/wav $forceflag
  run_step exp/log/validate.log python -m pipeline validate-data-dir --no-feats \
    data/*_clean data/*_reverb data/*_noisy*
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  log "Stage 1: fbank + CMVN: data/*/wav.scp -> data/*/feats.scp, cmvn.scp"
  # make-feats skips dirs that already have complete features of this kind
  run_step exp/make_feats/log/make_feats.log python -m pipeline make-feats \
    --kind fbank --nj "$nj" --no-progress $forceflag \
    data/*_clean data/*_reverb data/*_noisy*
  run_step exp/make_feats/log/validate.log python -m pipeline validate-data-dir \
    data/*_clean data/*_reverb data/*_noisy*
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  log "Stage 2: front-ends ($frontends): data/train_{noisy,reverb} -> data/train_clean => exp/enhance/<fe>"
  train_fe() {  # train_fe FE: train (resumes/skips when done), then test metrics
    local fe=$1 s evals=""
    if [ ! -f "exp/enhance/$fe/train.done" ]; then
      run_step "exp/enhance/$fe/log/train.log" python -m pipeline train-enhancer \
        --config "conf/enhance_${fe}${conf_sfx}.yaml" \
        --noisy data/train_noisy,data/train_reverb --clean data/train_clean \
        --dev-noisy data/dev_noisy,data/dev_reverb --dev-clean data/dev_clean \
        --out "exp/enhance/$fe" --device "$device" --seed "$seed" --threads 1 \
        --no-progress
    fi
    for s in $test_sets; do [ "$s" = test_clean ] || evals="$evals --noisy data/$s --name $s"; done
    run_step "exp/enhance/$fe/log/eval.log" python -m pipeline eval-enhancer \
      --model "exp/enhance/$fe" $evals --clean data/test_clean --threads 1
  }
  # $nj one-thread jobs side by side (on 2 cores 1.6x the throughput of 2-thread jobs)
  pool_init "$nj"
  for fe in $frontends; do
    if $force; then rm -rf "exp/enhance/$fe"; fi
    pool_run "front-end $fe (exp/enhance/$fe/log/)" train_fe "$fe"
  done
  pool_wait
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  log "Stage 3: enhance: data/<set> -> data/enh_<fe>/<set> for $frontends"
  enhance_fe() {  # enhance_fe FE: every set (skips outputs complete for this model)
    local fe=$1 s pairs=""
    for s in $train_sets $dev_sets $test_sets; do pairs="$pairs data/$s data/enh_$fe/$s"; done
    run_step "exp/enhance/$fe/log/enhance.log" python -m pipeline enhance \
      --model "exp/enhance/$fe" --nj 1 --device "$device" --no-progress $forceflag $pairs
    run_step "exp/enhance/$fe/log/validate.log" python -m pipeline validate-data-dir \
      data/enh_$fe/*
  }
  pool_init "$nj"
  for fe in $frontends; do pool_run "enhance $fe" enhance_fe "$fe"; done
  pool_wait
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  log "Stage 4: acoustic models: clean, mct$(for fe in $frontends; do printf ', mct_%s' "$fe"; done) -> exp/<am>"
  train_am() {  # train_am AM CONF TRAIN_DIRS DEV_DIR (train-am resumes/skips)
    if $force; then rm -rf "exp/$1"; fi
    pool_run "AM $1 (exp/$1/log/train.log)" run_step "exp/$1/log/train.log" \
      python -m pipeline train-am --config "$2" --train "$3" --dev "$4" \
      --out "exp/$1" --device "$device" --seed "$seed" --threads 1
  }
  am_conf=conf/am_default.yaml; am_clean_conf=conf/am_clean.yaml
  if $quick; then am_conf=conf/am_quick.yaml; am_clean_conf=conf/am_quick.yaml; fi
  pool_init "$nj"  # $nj one-thread jobs side by side, the longest (clean) first
  train_am clean "$am_clean_conf" data/train_clean data/dev_clean
  train_am mct "$am_conf" data/train_clean,data/train_reverb,data/train_noisy data/dev_noisy
  for fe in $frontends; do
    e=data/enh_$fe
    train_am "mct_$fe" "$am_conf" "$e/train_clean,$e/train_reverb,$e/train_noisy" "$e/dev_noisy"
  done
  pool_wait
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  log "Stage 5: decode: AM x front-end x {$test_sets} -> exp/<am>/decode_<fe>_<set>"
  decode_all() {  # decode_all AM FRONTEND: every test set, data from data/ or data/enh_<fe>
    local src=data pairs=""
    [ "$2" = none ] || src="data/enh_$2"
    for s in $test_sets; do pairs="$pairs $src/$s exp/$1/decode_$2_$s"; done
    run_step "exp/$1/log/decode_$2.log" python -m pipeline decode --am "exp/$1" \
      --grammar grid --device "$device" $forceflag $pairs
  }
  for am in clean mct; do
    decode_all "$am" none
    for fe in $frontends; do decode_all "$am" "$fe"; done
  done
  for fe in $frontends; do decode_all "mct_$fe" "$fe"; done
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  log "Stage 6: score and report: exp/*/decode_* -> exp/results.json, exp/report.md, exp/wer_vs_snr.png"
  run_step exp/log/score.log python -m pipeline score exp
  run_step exp/log/report.log python -m pipeline report exp
  log "Report: $(pwd)/exp/report.md"
fi

log "Done (stages $stage..$stop_stage)."
