#!/usr/bin/env bash
# log MESSAGE: timestamped progress line on stderr (icefall's prepare.sh style).
log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}
