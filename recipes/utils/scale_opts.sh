#!/usr/bin/env bash
# Where and how wide the recipes' jobs run: the options every recipe shares
# (sourced before parse_options.sh), their help lines, and scale_setup.
cmd=local          # local | slurm: how each step runs (recipes/utils/log.sh, run_cmd)
slurm_conf="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/slurm.conf"
ngpu=1             # processes per training job (GPUs with --device cuda), torchrun if > 1
scale_help="  --cmd local|slurm  run each step here or as a Slurm job, sbatch --wait
                     (default $cmd)
  --slurm-conf FILE  sbatch options per job class for --cmd slurm
                     (default recipes/utils/slurm.conf)
  --ngpu N           processes per training job: data-parallel through torchrun
                     when N > 1, one GPU each with --device cuda (default $ngpu)"

# scale_setup: check the options (exit 2 on a bad one) and set $train_launcher,
# the command line that starts a training verb of python -m pipeline (through
# torchrun --standalone --nproc_per_node $ngpu when $ngpu > 1). After parse_options.sh.
scale_setup() {
  case "$ngpu" in ''|*[!0-9]*|0) echo "$0: --ngpu must be a positive integer, not '$ngpu'" >&2; exit 2 ;; esac
  case "$cmd" in local|slurm) ;; *) echo "$0: --cmd must be local or slurm, not '$cmd'" >&2; exit 2 ;; esac
  if [ "$cmd" = slurm ]; then
    command -v sbatch > /dev/null || { echo "$0: --cmd slurm: sbatch not found (is Slurm installed? tools/slurm_local.sh)" >&2; exit 2; }
    [ -f "$slurm_conf" ] || { echo "$0: --slurm-conf $slurm_conf: no such file" >&2; exit 2; }
    slurm_conf=$(cd "$(dirname "$slurm_conf")" && pwd)/$(basename "$slurm_conf")
  fi
  train_launcher="python -m pipeline"
  if [ "$ngpu" -gt 1 ]; then train_launcher="torchrun --standalone --nproc_per_node $ngpu -m pipeline"; fi
}

# feats_step LOG_DIR DIR...: fbank + CMVN for every DIR (complete dirs are
# skipped). --cmd local: one make-feats step with --nj processes. --cmd slurm
# with --nj N > 1: each dir is split by speaker into N parts (split-data-dir),
# each part is one job (N in flight), then the parts' features are merged back
# (make-feats --merge-split N). Uses run_step / the pool (log.sh), $forceflag.
feats_step() {
  local logdir=$1 d k name todo
  shift
  if [ "$cmd" != slurm ] || [ "$nj" -le 1 ]; then
    run_step "$logdir/make_feats.log" python -m pipeline make-feats \
      --kind fbank --nj "$nj" --no-progress $forceflag "$@"
    return
  fi
  # DIR:PARTS for the dirs to do (all with --force): PARTS = --nj, or the number
  # of speakers when a dir has fewer (a speaker never spans two parts)
  todo=$(python -c 'import sys
from pipeline.datadir import DataDir
from pipeline.make_feats import has_feats
nj, force = int(sys.argv[1]), sys.argv[2] == "--force"
for p in sys.argv[3:]:
    d = DataDir.load(p)
    if force or not has_feats(d, "fbank"):
        print(f"{p}:{min(nj, len(d.spk2utt))}")' "$nj" "${forceflag:-none}" "$@")
  [ -n "$todo" ] || { log "features: every dir is complete"; return 0; }
  for d in $todo; do
    run_step "$logdir/split_$(basename "${d%:*}").log" python -m pipeline split-data-dir \
      "${d%:*}" "${d##*:}"
  done
  pool_init "$nj"
  for d in $todo; do
    name=$(basename "${d%:*}")
    for k in $(seq "${d##*:}"); do
      # one BLAS thread, as make-feats' --nj workers have: the float32 mel product
      # rounds by the thread count (1 ulp), and the features must not depend on --cmd
      pool_run "features $name part $k/${d##*:}" run_step "$logdir/make_feats_$name.$k.log" \
        env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
        python -m pipeline make-feats --kind fbank --no-progress $forceflag "${d%:*}/split${d##*:}/$k"
    done
  done
  pool_wait
  for d in $todo; do
    run_step "$logdir/merge_$(basename "${d%:*}").log" python -m pipeline make-feats \
      --kind fbank --merge-split "${d##*:}" "${d%:*}"
  done
}
