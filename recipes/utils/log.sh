#!/usr/bin/env bash
# log MESSAGE: timestamped progress line on stderr (icefall's prepare.sh style).
log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

# run_step LOG CMD...: run CMD with its output in LOG; on failure show the end of
# the log, name the command and its log file, and stop the recipe (exit 1).
run_step() {
  local logf=$1; shift
  mkdir -p "$(dirname "$logf")"
  if ! "$@" > "$logf" 2>&1; then
    tail -n 20 "$logf" >&2
    log "FAILED: $* (log: $(pwd)/$logf)"
    exit 1
  fi
}
