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
#   6  score and report -> exp/results.json (95% intervals), exp/comparisons.json
#      (paired bootstrap), exp/results.csv, exp/report.md, exp/report.tex,
#      exp/wer_vs_snr.png
# Stages 2-5 run once per training seed of --seeds: seed 0 writes the names above,
# seed N > 0 the same under exp/seed<N>/ and data/seed<N>/enh_<fe>/.
set -euo pipefail
cd "$(dirname "$0")"
. ../utils/log.sh

stage=0
stop_stage=100
quick=false        # true: tiny corpus and models, minutes on 2 cores
device=cpu         # cpu | cuda
nj=2               # parallel jobs (models train side by side, one thread each)
frontends="dnn lstm gan gan_recon"  # gan_recon: the GAN without its adversary
force=false        # true: redo stages whose outputs are complete
seed=0             # corpus seed (and the training seed unless --seeds is given)
seeds=""           # training seeds, e.g. "0 1 2" (default: the --seed value)
ams=""             # AMs to train and decode (default: clean mct mct_<fe> for each fe)

help_message="Usage: $0 [options]
  --stage N          first stage to run (default $stage)
  --stop-stage M     last stage to run (default $stop_stage)
  --quick true       tiny corpus and models (default $quick)
  --device cpu|cuda  (default $device)
  --nj N             parallel jobs; models train N at a time (default $nj)
  --frontends LIST   front-ends to train/evaluate (default \"$frontends\")
  --ams LIST         acoustic models to train/decode, from clean, mct, mct_<fe>
                     (default: all of them)
  --force true       redo finished stages (default $force)
  --seed N           corpus seed; also the training seed without --seeds (default $seed)
  --seeds LIST       training seeds, e.g. \"0 1 2\": stages 2-5 once per seed; seed 0
                     writes exp/<am>, seed N exp/seed<N>/<am> (default: --seed)
Stages: 0 simulate corpus, 1 features (+CMVN), 2 train front-ends, 3 enhance,
4 train AMs (clean, mct, mct_<frontend>), 5 decode, 6 score and report.
Outputs: data/, exp/ (report: exp/report.md, exp/report.tex, exp/wer_vs_snr.png;
exp/results.json, exp/results.csv, exp/comparisons.json)."
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
[ -n "$seeds" ] || seeds=$seed
for s in $seeds; do
  case "$s" in ''|*[!0-9]*) echo "$0: --seeds must be non-negative integers, not '$s'" >&2; exit 2 ;; esac
done
if [ -z "$ams" ]; then
  ams="clean mct"; for fe in $frontends; do ams="$ams mct_$fe"; done
fi
for fe in $frontends; do
  if [ ! -f "conf/enhance_${fe}.yaml" ] && [ ! -f "conf/enhance_${fe}${conf_sfx}.yaml" ]; then
    echo "$0: --frontends: no config for '$fe' (expected $(pwd)/conf/enhance_${fe}.yaml)" >&2; exit 2
  fi
done
for am in $ams; do
  case " clean mct $(for fe in $frontends; do printf 'mct_%s ' "$fe"; done)" in
    *" $am "*) ;;
    *) echo "$0: --ams: unknown AM '$am' (clean, mct or mct_<fe> of --frontends)" >&2; exit 2 ;;
  esac
done
# per training seed: where its models and enhanced data go (seed 0: today's names)
exp_of() { if [ "$1" = 0 ]; then echo exp; else echo "exp/seed$1"; fi; }
enh_of() { if [ "$1" = 0 ]; then echo "data/enh_$2"; else echo "data/seed$1/enh_$2"; fi; }
has_am() { case " $ams " in *" $1 "*) return 0 ;; esac; return 1; }
mkdir -p data exp/log
# data/ and exp/ belong to one corpus (size and seed): models trained on the quick
# corpus must never be reused (or reported) by a default-size run, and vice versa
corpus_stamp="size=$size seed=$seed"
if [ -f exp/.corpus ] && [ "$(cat exp/.corpus)" != "$corpus_stamp" ] && ! $force; then
  echo "$0: exp/ holds a run on another corpus ($(cat exp/.corpus); this run: $corpus_stamp)." >&2
  echo "  Move $(pwd)/{data,exp,corpus} away, or rerun with --force true to redo every stage." >&2
  exit 2
fi
echo "$corpus_stamp" > exp/.corpus

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
  log "Stage 2: front-ends ($frontends; seeds $seeds): data/train_{noisy,reverb} -> data/train_clean => exp/enhance/<fe>"
  train_fe() {  # train_fe FE SEED: train (resumes/skips when done), then test metrics
    local fe=$1 e s evals=""
    e="$(exp_of "$2")/enhance/$fe"
    local conf="conf/enhance_${fe}${conf_sfx}.yaml"
    [ -f "$conf" ] || conf="conf/enhance_${fe}.yaml"  # no _quick variant: the full one
    # train-enhancer skips a finished model of the same request, resumes an
    # interrupted one and refuses one made from another config or data
    run_step "$e/log/train.log" python -m pipeline train-enhancer \
      --config "$conf" \
      --noisy data/train_noisy,data/train_reverb --clean data/train_clean \
      --dev-noisy data/dev_noisy,data/dev_reverb --dev-clean data/dev_clean \
      --out "$e" --device "$device" --seed "$2" --threads 1 --no-progress
    for s in $test_sets; do [ "$s" = test_clean ] || evals="$evals --noisy data/$s --name $s"; done
    run_step "$e/log/eval.log" python -m pipeline eval-enhancer \
      --model "$e" $evals --clean data/test_clean --threads 1
  }
  # $nj one-thread jobs side by side (on 2 cores 1.6x the throughput of 2-thread jobs)
  pool_init "$nj"
  for sd in $seeds; do
    for fe in $frontends; do
      if $force; then rm -rf "$(exp_of "$sd")/enhance/$fe"; fi
      pool_run "front-end $fe, seed $sd ($(exp_of "$sd")/enhance/$fe/log/)" train_fe "$fe" "$sd"
    done
  done
  pool_wait
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  log "Stage 3: enhance: data/<set> -> data/enh_<fe>/<set> for $frontends (seeds $seeds)"
  enhance_fe() {  # enhance_fe FE SEED: every set (skips outputs complete for this model)
    local fe=$1 e out s pairs=""
    e="$(exp_of "$2")/enhance/$fe"; out=$(enh_of "$2" "$fe")
    for s in $train_sets $dev_sets $test_sets; do pairs="$pairs data/$s $out/$s"; done
    run_step "$e/log/enhance.log" python -m pipeline enhance \
      --model "$e" --threads 1 --device "$device" --no-progress $forceflag $pairs
    run_step "$e/log/validate.log" python -m pipeline validate-data-dir "$out"/*
  }
  pool_init "$nj"
  for sd in $seeds; do
    for fe in $frontends; do
      has_am "mct_$fe" || has_am clean || has_am mct || continue
      pool_run "enhance $fe, seed $sd" enhance_fe "$fe" "$sd"
    done
  done
  pool_wait
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  log "Stage 4: acoustic models ($ams; seeds $seeds) -> exp/<am>"
  train_am() {  # train_am AM SEED CONF TRAIN_DIRS DEV_DIR (train-am resumes/skips/refuses)
    local e
    e="$(exp_of "$2")/$1"
    if $force; then rm -rf "$e"; fi
    pool_run "AM $1, seed $2 ($e/log/train.log)" run_step "$e/log/train.log" \
      python -m pipeline train-am --config "$3" --train "$4" --dev "$5" \
      --out "$e" --device "$device" --seed "$2" --threads 1 --no-progress
  }
  am_conf=conf/am_default.yaml; am_clean_conf=conf/am_clean.yaml
  if $quick; then am_conf=conf/am_quick.yaml; am_clean_conf=conf/am_clean_quick.yaml; fi
  pool_init "$nj"  # $nj one-thread jobs side by side, the longest (clean) first
  for sd in $seeds; do
    if has_am clean; then
      train_am clean "$sd" "$am_clean_conf" data/train_clean data/dev_clean
    fi
    if has_am mct; then
      train_am mct "$sd" "$am_conf" data/train_clean,data/train_reverb,data/train_noisy data/dev_noisy
    fi
    for fe in $frontends; do
      has_am "mct_$fe" || continue
      e=$(enh_of "$sd" "$fe")
      train_am "mct_$fe" "$sd" "$am_conf" "$e/train_clean,$e/train_reverb,$e/train_noisy" "$e/dev_noisy"
    done
  done
  pool_wait
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  log "Stage 5: decode: AM x front-end x {$test_sets} (seeds $seeds) -> exp/<am>/decode_<fe>_<set>"
  decode_all() {  # decode_all AM FRONTEND SEED: every test set (data/ or its enh_<fe>)
    local src=data pairs="" e
    e="$(exp_of "$3")/$1"
    [ "$2" = none ] || src=$(enh_of "$3" "$2")
    for s in $test_sets; do pairs="$pairs $src/$s $e/decode_$2_$s"; done
    run_step "$e/log/decode_$2.log" python -m pipeline decode --am "$e" \
      --grammar grid --device "$device" --threads 1 $forceflag $pairs
  }
  pool_init "$nj"
  for sd in $seeds; do
    for am in clean mct; do
      has_am "$am" || continue
      pool_run "decode $am / none, seed $sd" decode_all "$am" none "$sd"
      for fe in $frontends; do pool_run "decode $am / $fe, seed $sd" decode_all "$am" "$fe" "$sd"; done
    done
    for fe in $frontends; do
      has_am "mct_$fe" || continue
      pool_run "decode mct_$fe / $fe, seed $sd" decode_all "mct_$fe" "$fe" "$sd"
    done
  done
  pool_wait
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  log "Stage 6: score and report: exp/[seed<N>/]*/decode_* -> exp/results.json, comparisons.json, results.csv, report.md, report.tex, wer_vs_snr.png"
  # only this run's AMs and front-ends (not what an earlier --frontends choice left)
  run_step exp/log/score.log python -m pipeline score exp --ams "$ams" --frontends "$frontends"
  smoke=""; $quick && smoke="--smoke-test"
  run_step exp/log/report.log python -m pipeline report exp $smoke
  log "Report: $(pwd)/exp/report.md"
fi

log "Done (stages $stage..$stop_stage)."
