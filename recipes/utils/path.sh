#!/usr/bin/env bash
# Sourced by every recipe (Kaldi's path.sh): use the project's .venv when it exists
# (./run.sh creates it), C-locale sorting, unbuffered Python output.
_venv="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/.venv"
if [ -x "$_venv/bin/python" ]; then
  export PATH="$_venv/bin:$PATH"
fi
unset _venv
if ! python -c "import pipeline, data_prep" 2>/dev/null; then
  echo "error: python ($(command -v python || echo none)) cannot import pipeline;" \
       "run ./run.sh from the repository root once (it installs .venv)" >&2
  exit 1
fi
export LC_ALL=C
export PYTHONUNBUFFERED=1
