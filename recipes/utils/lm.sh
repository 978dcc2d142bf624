#!/usr/bin/env bash
# LM decoding shared by the large-vocabulary recipes (recipes/simwsj, Track 2 of
# recipes/chime2): the options (sourced before parse_options.sh) and tune_lm.
lm_order=3         # n-gram order of an LM built from the training text
lm_weights="0.5 1 2"
word_scores="0 1 2"
lm_help="  --lm-order N       n-gram order of an LM built from training text (default $lm_order)
  --lm-weights LIST  LM weights tried on dev (default \"$lm_weights\")
  --word-scores LIST word scores tried on dev (default \"$word_scores\")"

# tune_lm LM LM_DIR AM_DIR DEV_DIR: decode DEV_DIR with AM_DIR and the ARPA LM
# (plain, .gz or Unix-compress .z) at every $lm_weights x $word_scores pair under
# LM_DIR/tune/<dev>/w<W>_s<S>, keep the pair of lowest dev WER (ties: the first)
# in LM_DIR/best and set $decode_opts to decode with it. Never give it a test set.
# Uses $device, $nj, $forceflag and run_step (log.sh).
tune_lm() {
  local lm=$1 lm_dir=$2 am=$3 dev=$4 w s d best name
  name=$(basename "$dev")
  for w in $lm_weights; do
    for s in $word_scores; do
      run_step "$lm_dir/log/tune_${name}_w${w}_s${s}.log" python -m pipeline decode \
        --am "$am" --lm "$lm" --lm-weight "$w" --word-score "$s" --device "$device" \
        --threads "$nj" $forceflag "$dev" "$lm_dir/tune/$name/w${w}_s${s}"
    done
  done
  best=$(for w in $lm_weights; do for s in $word_scores; do
           d="$lm_dir/tune/$name/w${w}_s${s}"
           echo "$(awk '{print $2}' "$d/wer") ${d##*/}"
         done; done | sort -g -s -k1,1 | head -n 1)
  w=${best#* w}; w=${w%_s*}; s=${best##*_s}
  echo "lm_weight $w word_score $s ${name}_wer ${best%% *} am $am lm $lm" > "$lm_dir/best"
  log "LM weight $w, word score $s ($name WER ${best%% *}% with $am)"
  decode_opts="--lm $lm --lm-weight $w --word-score $s"
}
