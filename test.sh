#!/usr/bin/env bash
# The test suite: sets up .venv on first use, then runs pytest (extra args passed on,
# e.g. `./test.sh -k datadir -x`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/recipes/utils/bootstrap.sh"
cd "$here"
exec python -m pytest -q "$@"
