#!/usr/bin/env bash
# The default recipe, end to end: sets up .venv on first use, then runs
# recipes/simgrid/run.sh with the same options (see `./run.sh --help`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
case " $* " in
  *" --help "*|*" -h "*) ;;  # help needs nothing installed
  *) . "$here/recipes/utils/bootstrap.sh" ;;
esac
exec "$here/recipes/simgrid/run.sh" "$@"
