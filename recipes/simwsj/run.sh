#!/usr/bin/env bash
# Large-vocabulary recipe on the embedded simwsj corpus (read sentences, a closed
# 5k vocabulary, WSJ0-5k-like). The stages simgrid runs (recipes/utils/stages.sh)
# with character AMs and word n-gram LM decoding. Everything is written under
# recipes/simwsj/{data,exp} (wavs under data/wav/).
#
# Stages:
#   0  synthesize simwsj -> data/{train,dev,test}_{clean,reverb,noisy},
#      data/{dev,test}_noisy_{m6dB,m3dB,0dB,3dB,6dB,9dB}
#   1  features: 40-d log-mel fbank + CMVN stats
#   2  front-ends (train_noisy + train_reverb -> train_clean) => exp/enhance/<fe>
#   3  enhance every set through each front-end -> data/enh_<fe>/<set>
#   4  character AMs: clean, mct, mct_<fe> -> exp/<am>
#   5  LM: Kneser-Ney trigram of data/train_clean/text -> exp/lm/lm.arpa; LM weight
#      and word score tuned on dev_noisy with the mct AM (dev_clean when only the
#      clean AM is trained; never on test) -> exp/lm/best;
#      decode every AM x front-end x test set with the LM -> exp/<am>/decode_*,
#      and without it (best path) -> exp/nolm/<am>/decode_*
#   6  score and report -> exp/report.md (with LM), exp/nolm/report.md (without)
set -euo pipefail
cd "$(dirname "$0")"
. ../utils/log.sh

frontends="dnn lstm"
. ../utils/recipe_opts.sh  # the shared options: --stage ... --seeds
. ../utils/lm.sh           # --lm-order --lm-weights --word-scores, tune_lm

help_message="Usage: $0 [options]
$common_help
$lm_help
Stages: 0 synthesize simwsj, 1 features (+CMVN), 2 train front-ends, 3 enhance,
4 train character AMs, 5 LM (tuned on dev) and decode with and without it,
6 score and report (exp/report.md with the LM, exp/nolm/report.md without)."
. ../utils/parse_options.sh
. ../utils/path.sh  # after the options: --help works before anything is installed
recipe_opts_check "$@"  # no arguments left, --device; size and conf_sfx from --quick

am_conf=conf/am_default.yaml; am_clean_conf=conf/am_default.yaml
if $quick; then am_conf=conf/am_quick.yaml; am_clean_conf=conf/am_quick.yaml; fi
decode_opts=""  # set in stage 5 from the tuned LM
. ../utils/stages.sh  # the stages simgrid and simwsj share (checks the options too)

if in_stage 0; then
  log "Stage 0: synthesize simwsj ($size, seed $seed): TTS + rooms + noise -> data/"
  run_step exp/log/simulate.log python -m data_prep simwsj data --size "$size" \
    --seed "$seed" --nj "$nj" --no-progress $forceflag
  run_step exp/log/validate.log python -m pipeline validate-data-dir --no-feats \
    data/*_clean data/*_reverb data/*_noisy*
fi
in_stage 1 && stage_features
pool_init "$nj"  # stages 2-4 queue their jobs; each starts when what it reads is done
in_stage 2 && stage_frontends
in_stage 3 && stage_enhance
in_stage 4 && stage_ams
pool_wait

if in_stage 5; then
  log "Stage 5: LM: ${lm_order}-gram of data/train_clean/text -> exp/lm/lm.arpa; weights tuned on dev_noisy"
  run_step exp/lm/log/make_lm.log python -m pipeline make-lm --text data/train_clean/text \
    --order "$lm_order" --out exp/lm/lm.arpa
  tune_am=mct; has_am mct || tune_am=$(echo "$ams" | awk '{print $1}')
  # tune on the dev set the AM was selected on: a clean AM on dev_clean (in noise
  # it recognizes nothing and every weight scores ~97%), MCT AMs on dev_noisy
  tune_dev=dev_noisy; [ "$tune_am" = clean ] && tune_dev=dev_clean
  tune_lm exp/lm/lm.arpa exp/lm "exp/$tune_am" "data/$tune_dev"
  pool_init "$nj"
  stage_decode exp
  decode_opts=""
  stage_decode exp/nolm
  pool_wait
fi

if in_stage 6; then
  stage_report exp
  stage_report exp/nolm
fi
log "Done (stages $stage..$stop_stage)."
