#!/usr/bin/env bash
# log MESSAGE: timestamped progress line on stderr (icefall's prepare.sh style).
log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

# run_step LOG CMD...: run CMD with its output in LOG; on failure show the end of
# the log, name the command and its log file, and stop the recipe (exit 1).
# A command that only reports finished work (every line of its output starts with
# "skip: ") leaves LOG as the run that did the work wrote it; its first skip line
# (and how many more there were) goes to the console instead.
run_step() {
  local logf=$1; shift
  mkdir -p "$(dirname "$logf")"
  local tmp="$logf.running"
  if ! run_cmd "$tmp" "$@"; then
    mv -f "$tmp" "$logf"
    tail -n 20 "$logf" >&2
    log "FAILED: $* (log: $(pwd)/$logf)"
    exit 1
  fi
  if [ -s "$tmp" ] && ! grep -qv '^skip: ' "$tmp"; then
    local n
    n=$(wc -l < "$tmp")
    if [ "$n" -gt 1 ]; then log "$(head -n 1 "$tmp") and $((n - 1)) more"; else log "$(cat "$tmp")"; fi
    rm -f "$tmp"
  else
    mv -f "$tmp" "$logf"
  fi
}

# run_cmd OUT CMD...: run CMD with its output in OUT, where $cmd (the recipes'
# --cmd) says:
#   local  here, as a child process (the default)
#   slurm  as a Slurm job, "sbatch --wait" (blocks until the job ends; its exit
#          status is the job's): the job runs CMD in this directory with this
#          environment and writes OUT. sbatch options come from $slurm_conf, a
#          file of "<class> <options...>" lines: class "train" for train-am and
#          train-enhancer, "default" for every other step (see
#          recipes/utils/slurm.conf). Added from the command: --cpus-per-task
#          (its --nj / --threads / torchrun --nproc_per_node), and for training
#          on --device cuda --gres=gpu:<--ngpu>.
run_cmd() {
  local out=$1; shift
  case "${cmd:-local}" in
    local) "$@" > "$out" 2>&1 ;;
    slurm) _slurm_run "$out" "$@" ;;
    *) echo "run_cmd: unknown --cmd '$cmd' (local or slurm)" > "$out"; return 2 ;;
  esac
}
_slurm_opts() {  # _slurm_opts CLASS: that line of $slurm_conf (else "default"'s)
  awk -v c="$1" '$1 == c { $1 = ""; print; found = 1; exit }
                 $1 == "default" && !d { $1 = ""; d = $0 }
                 END { if (!found) print d }' "$slurm_conf"
}
_slurm_run() {
  local out=$1; shift
  local class=default cpus=1 gpu="" prev="" a opts rc=0
  for a in "$@"; do
    case "$a" in train-am|train-enhancer) class=train ;; esac
    case "$prev" in --nj|--threads|--nproc_per_node) [ "$a" -gt "$cpus" ] 2>/dev/null && cpus=$a ;; esac
    prev=$a
  done
  if [ ! -f "${slurm_conf:-}" ]; then
    echo "--cmd slurm: no sbatch options file '${slurm_conf:-}' (--slurm-conf)" > "$out"; return 2
  fi
  opts=$(_slurm_opts "$class")
  if [ "$class" = train ] && [ "${device:-cpu}" = cuda ]; then gpu="--gres=gpu:${ngpu:-1}"; fi
  # shellcheck disable=SC2086  # $opts: several options
  sbatch --wait --quiet --job-name "${out%.running}" --output "$out" --chdir "$(pwd)" \
    --export ALL --cpus-per-task "$cpus" $gpu $opts \
    --wrap "$(printf '%q ' "$@")" 2> "$out.sbatch" || rc=$?
  if [ -s "$out.sbatch" ]; then cat "$out.sbatch" >> "$out"; fi  # sbatch's own errors
  rm -f "$out.sbatch"
  return "$rc"
}

# A pool of background jobs, for independent steps of one stage (e.g. training
# several models on a few cores: one-thread jobs side by side use the cores better
# than one multi-threaded job after another):
#   pool_init N             at most N jobs at a time
#   pool_run NAME CMD...    start CMD (run_step ..., or a function calling it) in
#                           the background as soon as a slot is free; logs
#                           "start: NAME" and, when it ends, "done: NAME in X min"
#   pool_wait               wait for all; if any failed, name them and exit 1
# When a job fails while others wait for a slot, or the recipe is interrupted, the
# running jobs are stopped (their work resumes on the next run, as every step's does).
pool_init() {
  _pool_max=$1; _pool_pids=(); _pool_names=()
  trap 'log "interrupted: stopping the running jobs"; _pool_kill; exit 130' INT TERM
}
_pool_kill() {
  local p
  # first the commands under each job (background jobs ignore SIGINT), then the job
  for p in "${_pool_pids[@]}"; do pkill -TERM -P "$p" 2>/dev/null || true; done
  for p in "${_pool_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
pool_run() {
  local name=$1; shift
  while [ "$(jobs -rp | wc -l)" -ge "$_pool_max" ]; do
    if ! wait -n; then
      log "a job failed (see above): stopping the others"
      _pool_kill
      exit 1
    fi
  done
  log "start: $name"
  _pool_job "$name" "$@" &
  _pool_pids+=($!); _pool_names+=("$name")
}
_pool_job() {  # run a job; say when it ended and how long it took
  local name=$1 t0=$SECONDS rc=0; shift
  "$@" || rc=$?
  [ "$rc" -eq 0 ] && log "done: $name in $(( (SECONDS - t0) / 60 )).$(( (SECONDS - t0) % 60 * 10 / 60 )) min"
  return "$rc"
}
pool_wait() {
  local i failed=""
  for i in "${!_pool_pids[@]}"; do
    wait "${_pool_pids[$i]}" || failed="$failed ${_pool_names[$i]}"
  done
  _pool_pids=(); _pool_names=()
  trap - INT TERM
  if [ -n "$failed" ]; then log "FAILED:$failed"; exit 1; fi
}
