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
