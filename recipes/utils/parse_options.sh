#!/usr/bin/env bash
# Kaldi-style option parsing, sourced by a recipe after it sets its defaults:
#   stage=0; nj=2; . recipes/utils/parse_options.sh
# turns `--stage 3 --nj 4` (or `--stage=3`) into stage=3 nj=4. An option is accepted
# only if a variable of that name (dashes -> underscores) already exists; booleans
# take true|false. `--help` prints $help_message. `--config FILE` sources FILE.
# Unknown options and missing values exit 2 (usage error), naming the option.
while true; do
  [ -z "${1:-}" ] && break
  case "$1" in
    --help|-h)
      echo -e "${help_message:-No help found.}"; exit 0 ;;
    --*=*)
      _name="${1%%=*}"; _value="${1#*=}"; shift ;;
    --*)
      _name="$1"
      if [ $# -lt 2 ]; then echo "$0: option $1 needs a value (see --help)" >&2; exit 2; fi
      _value="$2"; shift 2 ;;
    *) break ;;
  esac
  _var="${_name#--}"; _var="${_var//-/_}"
  if [ "$_var" = config ]; then
    [ -f "$_value" ] || { echo "$0: config file $_value not found" >&2; exit 2; }
    . "$_value"; continue
  fi
  if [ -z "${!_var+set}" ]; then
    echo "$0: unknown option $_name (see --help)" >&2; exit 2
  fi
  case "${!_var}" in
    true|false)
      case "$_value" in true|false) ;; *)
        echo "$0: option $_name takes true or false, not '$_value'" >&2; exit 2 ;;
      esac ;;
  esac
  printf -v "$_var" '%s' "$_value"
done
unset _name _value _var
