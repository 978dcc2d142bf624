# combine_mct ROOT COMBO "SETS": system combination of the mct_<fe> AMs (simgrid,
# simwsj and chime2 Track 1): combine-decodes averages the GRID slot posteriors of
# ROOT/mct_<fe>/decode_<fe>_<set> for each <fe> of COMBO (fe1+fe2+...) and each set
# of SETS into ROOT/mct_COMBO/decode_COMBO_<set> (skips finished sets; $forceflag).
# Needs log.sh's run_step.
combine_mct() {
  local fe dirs=""
  for fe in ${2//+/ }; do dirs="$dirs $1/mct_$fe/decode_$fe"; done
  # shellcheck disable=SC2086  # $dirs: several dirs; $forceflag: empty or --force
  run_step "$1/mct_$2/log/combine.log" python -m pipeline combine-decodes $forceflag \
    --out "$1/mct_$2/decode_$2" $dirs --sets "$3"
}
