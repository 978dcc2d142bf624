#!/usr/bin/env bash
# Create <repo>/.venv and install the pinned requirements plus this project
# (editable) when missing or when requirements.txt / pyproject.toml changed.
# Sourced by ./run.sh and ./test.sh; afterwards .venv/bin is first on PATH.
# Uses $PYTHON (default python3) to create the venv.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
_venv="$_root/.venv"
_stamp="$_venv/.installed-$(cat "$_root/requirements.txt" "$_root/pyproject.toml" | sha1sum | cut -c1-12)"
if [ ! -f "$_stamp" ]; then
  echo "bootstrap: installing into $_venv (first run; torch is large, a few minutes)" >&2
  if [ ! -x "$_venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$_venv" || { echo "bootstrap: cannot create $_venv" >&2; exit 1; }
  fi
  # pip and build-backend chatter goes to a log, shown only if the install fails
  if ! { "$_venv/bin/python" -m pip install --quiet --upgrade pip &&
         "$_venv/bin/python" -m pip install --quiet -r "$_root/requirements.txt" &&
         "$_venv/bin/python" -m pip install --quiet --no-deps -e "$_root"; } \
       > "$_venv/install.log" 2>&1; then
    tail -n 30 "$_venv/install.log" >&2
    echo "bootstrap: pip install failed (full log: $_venv/install.log)" >&2
    exit 1
  fi
  rm -f "$_venv"/.installed-*
  touch "$_stamp"
fi
export PATH="$_venv/bin:$PATH"
export LC_ALL=C
export PYTHONUNBUFFERED=1
unset _root _venv _stamp
