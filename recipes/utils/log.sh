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

# A pool of background jobs with dependencies (e.g. training several models on a
# few cores: one-thread jobs side by side use the cores better than one
# multi-threaded job after another; and a model that needs another starts as soon
# as that one is done, not when the whole stage is):
#   pool_init N             at most N jobs at a time
#   pool_run [--id ID] [--after "ID ..."] [--prio P] NAME CMD...
#                           queue CMD (run_step ..., or a function with its
#                           arguments; it runs later, so it must not read the
#                           caller's local variables)
#   pool_wait               run the queue to its end: a job starts when a slot
#                           is free and every job of its --after that was queued
#                           before it has ended well (an ID not queued before
#                           counts as done: an earlier run made it). Among the
#                           jobs ready to start, the highest --prio (default 0)
#                           goes first, then the first queued. Logs "start:
#                           NAME" and, when it ends, "done: NAME in X min".
#                           When a job fails, the running ones are stopped
#                           (their work resumes on the next run, as every
#                           step's does), nothing more starts, the failed job
#                           is named and the recipe exits 1.
# The recipes queue stages 2-5 into one pool: each job waits only for what it
# reads (recipes/utils/stages.sh).
pool_init() {
  _pool_max=$1; _pool_seq=0; _pool_known=" "; _pool_done=" "
  _pq_ids=(); _pq_after=(); _pq_prio=(); _pq_names=(); _pq_cmds=()
  declare -gA _pool_running=() _pool_running_names=()
  trap 'log "interrupted: stopping the running jobs"; _pool_kill; exit 130' INT TERM
}
_pool_kill() {
  local p
  # first the commands under each job (background jobs ignore SIGINT), then the job
  for p in "${!_pool_running[@]}"; do pkill -TERM -P "$p" 2>/dev/null || true; done
  for p in "${!_pool_running[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  _pool_running=(); _pool_running_names=()
}
pool_run() {
  local id="" after="" prio=0
  while :; do
    case "${1:-}" in
      --id) id=$2; shift 2 ;;
      --after) after=$2; shift 2 ;;
      --prio) prio=$2; shift 2 ;;
      *) break ;;
    esac
  done
  _pool_seq=$((_pool_seq + 1))
  [ -n "$id" ] || id="job$_pool_seq"
  _pq_ids+=("$id"); _pq_after+=("$after"); _pq_prio+=("$prio"); _pq_names+=("$1")
  shift
  _pq_cmds+=("$(printf '%q ' "$@")")
  _pool_known="$_pool_known$id "
}
_pool_next() {  # the index of the queued job to start next, or nothing
  local i d best="" ok
  for i in "${!_pq_ids[@]}"; do
    ok=true
    for d in ${_pq_after[$i]}; do
      case "$_pool_known" in *" $d "*)
        case "$_pool_done" in *" $d "*) ;; *) ok=false; break ;; esac ;;
      esac
    done
    $ok || continue
    if [ -z "$best" ] || [ "${_pq_prio[$i]}" -gt "${_pq_prio[$best]}" ]; then best=$i; fi
  done
  echo "$best"
}
_pool_start_ready() {
  local i
  while [ "${#_pool_running[@]}" -lt "$_pool_max" ]; do
    i=$(_pool_next)
    [ -n "$i" ] || return 0
    log "start: ${_pq_names[$i]}"
    _pool_job "${_pq_names[$i]}" eval "${_pq_cmds[$i]}" &
    _pool_running[$!]=${_pq_ids[$i]}; _pool_running_names[$!]=${_pq_names[$i]}
    unset "_pq_ids[$i]" "_pq_after[$i]" "_pq_prio[$i]" "_pq_names[$i]" "_pq_cmds[$i]"
  done
}
_pool_job() {  # run a job; say when it ended and how long it took
  local name=$1 t0=$SECONDS rc=0; shift
  "$@" || rc=$?
  [ "$rc" -eq 0 ] && log "done: $name in $(( (SECONDS - t0) / 60 )).$(( (SECONDS - t0) % 60 * 10 / 60 )) min"
  return "$rc"
}
pool_wait() {
  local pid rc name ended
  _pool_start_ready
  # Polls (twice a second) instead of "wait -n": once bash has filed an ended job
  # away (after any foreground command), "wait -n PIDS" no longer sees it and
  # blocks on the others, leaving its slot idle; "wait PID" still returns its status.
  while [ "${#_pool_running[@]}" -gt 0 ]; do
    ended=false
    for pid in "${!_pool_running[@]}"; do
      kill -0 "$pid" 2>/dev/null && continue
      ended=true rc=0
      wait "$pid" 2>/dev/null || rc=$?
      name=${_pool_running_names[$pid]}
      _pool_done="$_pool_done${_pool_running[$pid]} "
      unset "_pool_running[$pid]" "_pool_running_names[$pid]"
      if [ "$rc" -ne 0 ]; then
        if [ "${#_pool_running[@]}" -gt 0 ] || [ "${#_pq_ids[@]}" -gt 0 ]; then
          log "a job failed (see above): stopping the others"
        fi
        _pool_kill
        trap - INT TERM
        log "FAILED: $name"
        exit 1
      fi
    done
    if $ended; then _pool_start_ready; else sleep 0.5; fi
  done
  trap - INT TERM
  if [ "${#_pq_ids[@]}" -gt 0 ]; then  # cannot happen: unknown ids count as done
    log "FAILED: jobs never ready: ${_pq_names[*]}"; exit 1
  fi
}
