#!/usr/bin/env bash
# The options the embedded-corpus recipes share (recipes/simgrid, recipes/simwsj),
# with their defaults and help lines: sourced by their run.sh before
# parse_options.sh, after setting their own default $frontends.
stage=0
stop_stage=100
quick=false        # true: small corpus and tiny models: a smoke test of every stage
device=cpu         # cpu | cuda
nj=2               # parallel jobs (models train side by side, one thread each)
force=false        # true: redo stages whose outputs are complete
seed=0             # corpus seed (and the training seed unless --seeds is given)
seeds=""           # training seeds, e.g. "0 1 2" (default: the --seed value)
ams=""             # AMs to train and decode (default: clean mct mct_<fe> for each fe)
fe_am_input=${fe_am_input:-enhanced}  # what mct_<fe> AMs see: enhanced | paste
mct_init=${mct_init:-scratch}         # where the MCT AMs start: scratch | base
. "$(dirname "${BASH_SOURCE[0]}")/scale_opts.sh"  # --cmd --slurm-conf --ngpu
common_help="  --stage N          first stage to run (default $stage)
  --stop-stage M     last stage to run (default $stop_stage)
  --quick true       small corpus and tiny models, a smoke test (default $quick)
  --device cpu|cuda  (default $device)
  --nj N             parallel jobs; models train N at a time (default $nj)
  --frontends LIST   front-ends to train/evaluate (default \"$frontends\")
  --ams LIST         acoustic models to train/decode, from clean, mct, mct_<fe>
                     (default: all of them)
  --fe-am-input enhanced|paste
                     what the mct_<fe> AMs see: the front-end's output, or it
                     pasted beside the unprocessed features (80-d; Kaldi's
                     paste-feats -> data/paste_<fe>/<set>) (default $fe_am_input)
  --mct-init scratch|base
                     where the MCT AMs (mct, mct_<fe>) start: random weights,
                     or exp/mct_base, trained first on the unprocessed MCT set:
                     each then trains on its own input for the AM config's
                     init_epochs (train-am --init) (default $mct_init)
  --force true       redo finished stages (default $force)
  --seed N           corpus seed; also the training seed without --seeds (default $seed)
  --seeds LIST       training seeds, e.g. \"0 1 2\": stages 2-5 once per seed; seed 0
                     writes exp/<am>, seed N exp/seed<N>/<am> (default: --seed)
$scale_help"

# after parse_options.sh: recipe_opts_check "$@" (no positional arguments are left,
# --device is known) and size / conf_sfx from --quick
recipe_opts_check() {
  if [ $# -ne 0 ]; then echo "$0: unexpected argument '$1' (see --help)" >&2; exit 2; fi
  case "$device" in cpu|cuda) ;; *) echo "$0: --device must be cpu or cuda" >&2; exit 2 ;; esac
  size=default
  conf_sfx=""
  if $quick; then size=quick; conf_sfx="_quick"; fi
}
