#!/usr/bin/env bash
# The stages the embedded-corpus recipes share (recipes/simgrid, recipes/simwsj):
# sourced by their run.sh after log.sh, the options and these variables:
#   corpus stage 0's name (for messages); size, seed, seeds, nj, device, force,
#   quick, frontends, ams (may be empty: every AM), conf_sfx ("" or "_quick"),
#   am_conf, am_clean_conf (AM configs), and decode_opts (stage 5's decode
#   options, e.g. "--grammar grid" or "--lm exp/lm/lm.arpa --lm-weight 1");
#   fe_am_input (enhanced | paste: the mct_<fe> AMs' input), mct_init
#   (scratch | base: where the MCT AMs start);
#   optionally noisy_train_sets (the MCT AMs' noisy training dirs; default
#   train_noisy; simgrid adds its further copies, train_noisy2 train_noisy3).
# Layout (the data-dir contract of both corpora): data/{train,dev,test}_{clean,
# reverb,noisy}, data/{dev,test}_noisy_<SNR>; front-ends exp/enhance/<fe>,
# enhanced data data/enh_<fe>/<set> (pasted beside the unprocessed features:
# data/paste_<fe>/<set>), AMs exp/<am>, decodes exp/<am>/decode_<fe>_<set>;
# training seed N > 0 under exp/seed<N>/ and data/seed<N>/.
# Stages 2-5 only queue their jobs (log.sh's pool_run, each with the ids of the
# jobs whose outputs it reads): the recipe opens the pool before them
# (pool_init "$nj") and runs it after them (pool_wait), so that a job starts as
# soon as what it reads is done (mct_base beside the front-ends, an AM's decodes
# beside the next AM's training), $nj one-thread jobs at a time (on 2 cores
# 1.6x the throughput of 2-thread jobs).

. ../utils/combine.sh  # combine_mct (stage 5's system combination; chime2 shares it)
scale_setup  # --cmd, --slurm-conf, --ngpu (recipes/utils/scale_opts.sh)
forceflag=""
$force && forceflag="--force"
snrs="m6dB m3dB 0dB 3dB 6dB 9dB"
noisy_train_sets=${noisy_train_sets:-train_noisy}
train_sets="train_clean train_reverb $noisy_train_sets"  # the MCT AMs' training dirs
dev_sets="dev_clean dev_reverb dev_noisy"
test_sets="test_clean test_reverb"
for s in $snrs; do test_sets="$test_sets test_noisy_$s"; done
[ -n "$seeds" ] || seeds=$seed
case "$fe_am_input" in enhanced|paste) ;; *)
  echo "$0: --fe-am-input must be enhanced or paste, not '$fe_am_input'" >&2; exit 2 ;;
esac
case "$mct_init" in scratch|base) ;; *)
  echo "$0: --mct-init must be scratch or base, not '$mct_init'" >&2; exit 2 ;;
esac
for s in $seeds; do
  case "$s" in ''|*[!0-9]*) echo "$0: --seeds must be non-negative integers, not '$s'" >&2; exit 2 ;; esac
done
if [ -z "$ams" ]; then
  ams="clean mct"; for fe in $frontends; do ams="$ams mct_$fe"; done
fi
for fe in $frontends; do
  if [ "$fe" = base ]; then  # exp/mct_base is the MCT AMs' shared start (--mct-init)
    echo "$0: --frontends: 'base' is reserved (exp/mct_base); name the front-end otherwise" >&2; exit 2
  fi
  if [ ! -f "conf/enhance_${fe}.yaml" ] && [ ! -f "conf/enhance_${fe}${conf_sfx}.yaml" ]; then
    echo "$0: --frontends: no config for '$fe' (expected $(pwd)/conf/enhance_${fe}.yaml)" >&2; exit 2
  fi
done
for am in $ams; do
  case " clean mct $(for fe in $frontends; do printf 'mct_%s ' "$fe"; done)" in
    *" $am "*) ;;
    *) echo "$0: --ams: unknown AM '$am' (clean, mct or mct_<fe> of --frontends)" >&2; exit 2 ;;
  esac
done
# per training seed: where its models and enhanced data go (seed 0: today's names)
exp_of() { if [ "$1" = 0 ]; then echo exp; else echo "exp/seed$1"; fi; }
enh_of() { if [ "$1" = 0 ]; then echo "data/enh_$2"; else echo "data/seed$1/enh_$2"; fi; }
# am_data_of SEED FE: the data the mct_<fe> AM trains on and is decoded with
am_data_of() { if [ "$fe_am_input" = paste ]; then local e; e=$(enh_of "$1" "$2"); echo "${e%enh_$2}paste_$2"; else enh_of "$1" "$2"; fi; }
train_list() { local d l=""; for d in $train_sets; do l="$l,$1/$d"; done; echo "${l#,}"; }  # train_list ROOT
has_am() { case " $ams " in *" $1 "*) return 0 ;; esac; return 1; }
# the system combination of every mct_<fe> AM (2 or more), when stage 5 searches
# the GRID grammar (its slot posteriors): its front-end name, e.g. dnn+lstm (the
# AM: mct_dnn+lstm), else nothing
combo_frontend() {
  local fe l=""
  case " $decode_opts " in *" --grammar grid "*|*" --grammar grid-mbr "*) ;; *) return 0 ;; esac
  for fe in $frontends; do has_am "mct_$fe" && l="$l+$fe"; done
  l=${l#+}
  case "$l" in *+*) echo "$l" ;; esac
}
mkdir -p data exp/log
# data/ and exp/ belong to one corpus (size and seed): models trained on the quick
# corpus must never be reused (or reported) by a default-size run, and vice versa
corpus_stamp="size=$size seed=$seed"
if [ -f exp/.corpus ] && [ "$(cat exp/.corpus)" != "$corpus_stamp" ] && ! $force; then
  echo "$0: exp/ holds a run on another corpus ($(cat exp/.corpus); this run: $corpus_stamp)." >&2
  echo "  Move $(pwd)/{data,exp,corpus} away, or rerun with --force true to redo every stage." >&2
  exit 2
fi
echo "$corpus_stamp" > exp/.corpus

in_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }

stage_features() {  # stage 1
  log "Stage 1: fbank + CMVN: data/*/wav.scp -> data/*/feats.scp, cmvn.scp"
  # complete dirs are skipped; with --cmd slurm one job per part of each dir
  feats_step exp/make_feats/log data/*_clean data/*_reverb data/*_noisy*
  run_step exp/make_feats/log/validate.log python -m pipeline validate-data-dir \
    data/*_clean data/*_reverb data/*_noisy*
}

stage_frontends() {  # stage 2
  log "Stage 2: front-ends ($frontends; seeds $seeds): data/train_{noisy,reverb} -> data/train_clean => exp/enhance/<fe>"
  train_fe() {  # train_fe FE SEED: train (resumes/skips when done), then test metrics
    local fe=$1 e s evals=""
    e="$(exp_of "$2")/enhance/$fe"
    local conf="conf/enhance_${fe}${conf_sfx}.yaml"
    [ -f "$conf" ] || conf="conf/enhance_${fe}.yaml"  # no _quick variant: the full one
    # train-enhancer skips a finished model of the same request, resumes an
    # interrupted one and refuses one made from another config or data
    run_step "$e/log/train.log" $train_launcher train-enhancer \
      --config "$conf" \
      --noisy data/train_noisy,data/train_reverb --clean data/train_clean \
      --dev-noisy data/dev_noisy,data/dev_reverb --dev-clean data/dev_clean \
      --out "$e" --device "$device" --seed "$2" --threads 1 --no-progress
    for s in $test_sets; do [ "$s" = test_clean ] || evals="$evals --noisy data/$s --name $s"; done
    run_step "$e/log/eval.log" python -m pipeline eval-enhancer \
      --model "$e" $evals --clean data/test_clean --threads 1 --precision auto
  }
  for sd in $seeds; do
    for fe in $frontends; do
      if $force; then rm -rf "$(exp_of "$sd")/enhance/$fe"; fi
      pool_run --id "fe:$sd:$fe" --prio 30 \
        "front-end $fe, seed $sd ($(exp_of "$sd")/enhance/$fe/log/)" train_fe "$fe" "$sd"
    done
  done
}

stage_enhance() {  # stage 3
  log "Stage 3: enhance: data/<set> -> data/enh_<fe>/<set> for $frontends (seeds $seeds)$(
    [ "$fe_am_input" = paste ] && echo "; pasted beside data/<set> -> data/paste_<fe>/<set>")"
  enhance_fe() {  # enhance_fe FE SEED: every set (skips outputs complete for this model)
    local fe=$1 e out s pairs=""
    e="$(exp_of "$2")/enhance/$fe"; out=$(enh_of "$2" "$fe")
    for s in $train_sets $dev_sets $test_sets; do pairs="$pairs data/$s $out/$s"; done
    # bf16 where the CPU has it, as the front-ends train (about 2x fp32's speed)
    run_step "$e/log/enhance.log" python -m pipeline enhance --precision auto \
      --model "$e" --threads 1 --device "$device" --no-progress $forceflag $pairs
    run_step "$e/log/validate.log" python -m pipeline validate-data-dir "$out"/*
    [ "$fe_am_input" = paste ] && has_am "mct_$fe" || return 0
    # the mct_<fe> AM's input: beside the unprocessed features (skips done dirs)
    run_step "$e/log/paste.log" python -m pipeline paste-feats --no-progress $forceflag \
      --sets "$train_sets dev_noisy $test_sets" "$(am_data_of "$2" "$fe")" "$out" data
  }
  for sd in $seeds; do
    for fe in $frontends; do
      has_am "mct_$fe" || has_am clean || has_am mct || continue
      pool_run --id "enh:$sd:$fe" --after "fe:$sd:$fe" --prio 20 \
        "enhance $fe, seed $sd" enhance_fe "$fe" "$sd"
    done
  done
}

stage_ams() {  # stage 4
  log "Stage 4: acoustic models ($ams; seeds $seeds) -> exp/<am>$(
    [ "$mct_init" = base ] && echo "; the MCT AMs fine-tuned from exp/mct_base")"
  train_am() {  # train_am AM SEED CONF TRAIN_DIRS DEV_DIR PRIO AFTER [OPTS] (resumes/skips/refuses)
    local e
    e="$(exp_of "$2")/$1"
    if $force; then rm -rf "$e"; fi
    pool_run --id "am:$2:$1" --after "$7" --prio "$6" "AM $1, seed $2 ($e/log/train.log)" \
      run_step "$e/log/train.log" \
      $train_launcher train-am --config "$3" --train "$4" --dev "$5" \
      --out "$e" --device "$device" --seed "$2" --threads 1 --no-progress ${8:-}
  }
  mct_ams() {  # mct_ams SEED PRIO AFTER [OPTS]: the MCT AMs (mct, mct_<fe>) of one seed
    local fe e
    if has_am mct; then
      train_am mct "$1" "$am_conf" "$(train_list data)" data/dev_noisy "$2" "$3" "${4:-}"
    fi
    for fe in $frontends; do
      has_am "mct_$fe" || continue
      e=$(am_data_of "$1" "$fe")
      # its input: the front-end's enhanced (pasted) data
      train_am "mct_$fe" "$1" "$am_conf" "$(train_list "$e")" "$e/dev_noisy" 10 \
        "$3 enh:$1:$fe" "${4:-}"
    done
  }
  local sd am need_base=false  # --mct-init base and an MCT AM asked for
  if [ "$mct_init" = base ]; then
    for am in $ams; do case "$am" in mct|mct_*) need_base=true ;; esac; done
  fi
  # priorities: the longest chain of work first (mct_base, then its fine-tunes,
  # is the longest; a front-end's training, enhancing and its AM the next)
  for sd in $seeds; do
    if $need_base; then  # unprocessed MCT set, the MCT AMs' shared start
      train_am mct_base "$sd" "$am_conf" "$(train_list data)" data/dev_noisy 40 ""
      # mct and each mct_<fe> start from their seed's mct_base (train-am --init;
      # the config's init_epochs), each on its own input
      mct_ams "$sd" 10 "am:$sd:mct_base" "--init $(exp_of "$sd")/mct_base"
    else
      mct_ams "$sd" 40 ""
    fi
    if has_am clean; then
      train_am clean "$sd" "$am_clean_conf" data/train_clean data/dev_clean 15 ""
    fi
  done
}

stage_decode() {  # stage 5 [OUT_ROOT]: decodes with $decode_opts under OUT_ROOT (default exp)
  local out_root=${1:-exp} sd am fe
  log "Stage 5: decode ($decode_opts): AM x front-end x {$test_sets} (seeds $seeds) -> $out_root/<am>/decode_<fe>_<set>"
  decode_all() {  # decode_all AM "FRONTEND..." SEED OUT_ROOT OPTS: every test set (data/ or
    # its enh_<fe>) of every front-end, in one process (one start-up and AM load)
    local src pairs="" e o s fe
    e="$(exp_of "$3")/$1"
    o="$4/${e#exp}"; o="${o%/}"; o="${o/\/\//\/}"
    for fe in $2; do
      src=data
      [ "$fe" = none ] || src=$(enh_of "$3" "$fe")
      [ "$1" = "mct_$fe" ] && src=$(am_data_of "$3" "$fe")  # its own input (--fe-am-input)
      for s in $test_sets; do pairs="$pairs $src/$s $o/decode_${fe}_$s"; done
    done
    # shellcheck disable=SC2086  # $5: several options
    run_step "$o/log/decode_${2// /+}.log" python -m pipeline decode --am "$e" \
      $5 --device "$device" --threads 1 $forceflag $pairs
  }
  decode_job() {  # decode_job AM "FRONTEND..." SEED: queued after the AM (and the front-ends' data)
    local after="am:$3:$1" fe fes
    # shellcheck disable=SC2086  # $2: the front-end list, one space apart
    fes=$(printf '%s ' $2); fes=${fes% }
    for fe in $fes; do [ "$fe" = none ] || after="$after enh:$3:$fe"; done
    pool_run --id "dec:$3:$1:${fes// /+}" --after "$after" "decode $1 / ${fes// /, }, seed $3" \
      decode_all "$1" "$fes" "$3" "$out_root" "$decode_opts"
  }
  combine_all() {  # combine_all SEED OUT_ROOT COMBO: CNC of the mct_<fe> decodes, every test set
    local o
    o=$(exp_of "$1"); o="$2${o#exp}"  # exp/seed<N> -> OUT_ROOT/seed<N>
    combine_mct "$o" "$3" "$test_sets"
  }
  local combo after
  combo=$(combo_frontend)
  for sd in $seeds; do
    for am in clean mct; do  # one job each for every front-end's test sets
      has_am "$am" || continue
      decode_job "$am" "none $frontends" "$sd"
    done
    for fe in $frontends; do
      has_am "mct_$fe" || continue
      decode_job "mct_$fe" "$fe" "$sd"
    done
    [ -n "$combo" ] || continue
    after=""; for fe in ${combo//+/ }; do after="$after dec:$sd:mct_$fe:$fe"; done
    pool_run --after "$after" "combine mct_$combo (slot posteriors), seed $sd" \
      combine_all "$sd" "$out_root" "$combo"
  done
}

stage_report() {  # stage 6 [EXP_ROOT]
  local root=${1:-exp}
  log "Stage 6: score and report: $root/[seed<N>/]*/decode_* -> $root/results.json, comparisons.json, results.csv, report.md, report.tex, wer_vs_snr.png"
  # only this run's AMs and front-ends (not what an earlier --frontends choice left)
  local combo
  combo=$(combo_frontend)
  run_step "$root/log/score.log" python -m pipeline score "$root" \
    --ams "$ams${combo:+ mct_$combo}" --frontends "$frontends${combo:+ $combo}"
  local smoke=""; $quick && smoke="--smoke-test"
  run_step "$root/log/report.log" python -m pipeline report "$root" $smoke
  log "Report: $(pwd)/$root/report.md"
}
