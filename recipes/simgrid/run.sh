#!/usr/bin/env bash
# Default recipe on the simulated CHiME-2 Track 1-style corpus (simgrid).
# Everything is written under recipes/simgrid/{data,exp} (wavs under corpus/).
#
# Stages:
#   0  simulate the corpus: TTS + rooms + noise -> data/{train,dev,test}_{clean,reverb,noisy},
#      data/train_noisy{2,3} (more noisy copies of train: other noises and SNRs),
#      data/{dev,test}_noisy_{m6dB,m3dB,0dB,3dB,6dB,9dB}
#   1  features: 40-d log-mel fbank + CMVN stats -> data/*/feats.scp, cmvn.scp
#   2  front-ends: train each of $frontends on (train_noisy + train_reverb -> train_clean)
#      -> exp/enhance/<fe>/ (+ test MSE/LSD in its metrics.json)
#   3  enhance: every train/dev/test set through each front-end -> data/enh_<fe>/<set>
#      and (--fe-am-input paste, the default) pasted beside the unprocessed
#      features, 80-d -> data/paste_<fe>/<set>
#   4  acoustic models: clean (train_clean), mct (train_{clean,reverb,noisy,noisy2,
#      noisy3}), mct_<fe> (the same enhanced by <fe>, with the unprocessed
#      features beside them); --mct-init base (the default): mct_base on the
#      unprocessed MCT set first, then mct and every mct_<fe> fine-tuned from it,
#      each on its own input -> exp/<am>/
#   5  decode every AM x front-end x test set -> exp/<am>/decode_<fe>_<set>/{hyp,ref,wer,
#      slot_post.ark}; combine the mct_<fe> AMs' slot posteriors (2 or more) ->
#      exp/mct_<fe1>+<fe2>+.../decode_<fe1>+<fe2>+..._<set>
#   6  score and report -> exp/results.json (95% intervals), exp/comparisons.json
#      (paired bootstrap), exp/results.csv, exp/report.md, exp/report.tex,
#      exp/wer_vs_snr.png
# Stages 2-5 run once per training seed of --seeds: seed 0 writes the names above,
# seed N > 0 the same under exp/seed<N>/ and data/seed<N>/enh_<fe>/. Their jobs
# run as one pool, --nj at a time: each starts as soon as what it reads is done
# (mct_base trains beside the front-ends; decodes start when their AM is done).
set -euo pipefail
cd "$(dirname "$0")"
. ../utils/log.sh

frontends="dnn lstm gan gan_recon"  # gan_recon: the GAN without its adversary
# mct_<fe> AMs see the enhanced features pasted beside the noisy ones: pooled
# dev_noisy_<SNR> WER of mct_dnn 14.36 -> 13.31 (mct / none 14.72; README)
fe_am_input=paste
# The MCT AMs (mct, mct_<fe>) are fine-tuned from one shared AM, mct_base (the
# unprocessed MCT set), each on its own input, at a third of the training time:
# pooled dev mct 13.60 -> 12.36, mct_dnn 11.17 (am_default.yaml's init_epochs)
mct_init=base
. ../utils/recipe_opts.sh  # the shared options: --stage ... --seeds

help_message="Usage: $0 [options]
$common_help
Stages: 0 simulate corpus, 1 features (+CMVN), 2 train front-ends, 3 enhance,
4 train AMs (clean, mct, mct_<frontend>), 5 decode (and combine the mct_<frontend>
AMs), 6 score and report. Stages 2-5 run as one pool of --nj jobs: each starts
when what it reads is done.
Outputs: data/, exp/ (report: exp/report.md, exp/report.tex, exp/wer_vs_snr.png;
exp/results.json, exp/results.csv, exp/comparisons.json)."
. ../utils/parse_options.sh
. ../utils/path.sh  # after the options: --help works before anything is installed
recipe_opts_check "$@"  # no arguments left, --device; size and conf_sfx from --quick

am_conf=conf/am_default.yaml; am_clean_conf=conf/am_clean.yaml
if $quick; then am_conf=conf/am_quick.yaml; am_clean_conf=conf/am_clean_quick.yaml; fi
# GRID: search only through the grammar, at 3 subsampling phases (their slot
# posteriors averaged; dev: mct_<fe> combination 10.34 -> 9.61% WER, -6 dB keywords
# 57.7 -> 61.3%), the AM in the arithmetic it trained in (bf16 here: 1.8x faster)
decode_opts="--grammar grid --phases 3 --am-precision auto"
# MCT: every noisy copy of train the corpus has (data_prep.simgrid's SIZES)
noisy_train_sets=$(python -c "from data_prep.simgrid import train_noisy_dirs; print(*train_noisy_dirs('$size'))")
. ../utils/stages.sh  # the stages simgrid and simwsj share (checks the options too)

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  log "Stage 0: simulate simgrid ($size, seed $seed): TTS + rooms + noise -> data/"
  # data_prep skips a corpus that is complete with the same size and seed
  run_step exp/log/simulate.log python -m data_prep simgrid data --size "$size" \
    --seed "$seed" --nj "$nj" --wav-dir corpus/wav $forceflag
  run_step exp/log/validate.log python -m pipeline validate-data-dir --no-feats \
    data/*_clean data/*_reverb data/*_noisy*
fi

in_stage 1 && stage_features
pool_init "$nj"  # stages 2-5 queue their jobs; each starts when what it reads is done
in_stage 2 && stage_frontends
in_stage 3 && stage_enhance
in_stage 4 && stage_ams
in_stage 5 && stage_decode
pool_wait
in_stage 6 && stage_report
log "Done (stages $stage..$stop_stage)."
