"""Decode a data dir with a trained CTC acoustic model (``python -m pipeline decode``).

Search: CTC best path (``beam <= 1``) or SpeechBrain's ``CTCPrefixBeamSearcher``
(prefix beam search, Hannun et al. 2014; no LM). ``grammar="grid"`` searches only
through the GRID grammar (:class:`pipeline.asr.grammar.GridSearch`: exact CTC
Viterbi through the six-slot automaton; word-level AMs; ``beam`` is not used);
``grammar="grid-mbr"`` searches the same automaton for each slot's most probable
word, summed over every alignment (:class:`pipeline.asr.grammar.GridMBRSearch`:
forward-backward, minimum Bayes risk for WER and keyword accuracy);
``grammar="grid-snap"`` snaps the free hypothesis onto the grammar after the
search (:func:`pipeline.asr.grammar.snap_to_grid`: monotone word-to-slot
alignment, each aligned word replaced by the closest word of its slot).

``phases`` > 1 (GRID grammars only) decodes each utterance at that many
subsampling phases: the AM's input convolution keeps every ``stride``-th frame,
so the features shifted by 0, stride/phases, 2 stride/phases, ... frames give
that many different output sequences of the same audio; their slot posteriors
are averaged and each slot takes its most probable word (as system combination
does, :mod:`pipeline.asr.combine`, with the phases as the systems). On the
default simgrid corpus's dev set (``recipes/simgrid``, 1440 noisy utterances),
3 phases took the four ``mct_<fe>`` AMs' combination from 10.34% to 9.61% WER
and its -6 dB keyword accuracy from 57.7% to 61.3%; each single AM gained 0.3 to
0.8 WER. ``am_precision`` ``bf16`` runs the AM under bf16 autocast (1.8x faster
on a CPU with avx512_bf16; ``auto``: bf16 when the AM was trained in bf16 and the
device runs it fast, as ``train-am``'s ``precision: auto``).

``OUT_DIR`` gets ``hyp`` and ``ref`` (Kaldi text; every utterance of the data dir,
an undecodable one as an empty ``uttid`` line), ``wer`` (Kaldi ``compute-wer``
style), ``decode.json`` (am, frontend, test set, timing; written last) and the data
dir's ``utt2snr``/``utt2cond`` for scoring; a GRID-constrained decode also
``slot_post.ark`` (each utterance's slot posteriors, for system combination:
:mod:`pipeline.asr.combine`).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import kaldiio
import torch

from pipeline.asr.data import Tokens, iter_features
from pipeline.asr.grammar import GRAMMARS, SLOT_GRAMMARS
from pipeline.datadir import DataDir, DataDirError

logger = logging.getLogger(__name__)


class LoadedAM:
    """A trained model dir: ``model`` (eval mode), ``tokens``, ``meta`` (am.json),
    ``global_cmvn`` (or None)."""

    def __init__(self, exp_dir: str | Path, device: str = "cpu", precision: str = "fp32"):
        from speechbrain.utils.checkpoints import Checkpointer

        from pipeline.asr.train import load_hparams

        exp_dir = Path(exp_dir)
        for name in ("am.json", "hparams.yaml", "tokens.txt"):
            if not (exp_dir / name).is_file():
                raise DataDirError(f"expected a trained AM dir ({name} missing)",
                                   path=exp_dir / name)  # fmt: skip
        self.exp_dir = exp_dir
        self.meta = json.loads((exp_dir / "am.json").read_text())
        self.tokens = Tokens.load(exp_dir / "tokens.txt")
        hp, _ = load_hparams(exp_dir / "hparams.yaml", {
            "feat_dim": self.meta["feat_dim"], "n_tokens": self.meta["n_tokens"]})  # fmt: skip
        self.model = hp["model"]
        ckpt = Checkpointer(exp_dir / "save", recoverables={"model": self.model})
        if ckpt.recover_if_possible(min_key="WER") is None:
            raise DataDirError("no checkpoint found (train-am not finished?)",
                               path=exp_dir / "save")  # fmt: skip
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        self.precision = resolve_am_precision(precision, self.meta, device)
        g = exp_dir / "cmvn_global.ark"
        self.global_cmvn = kaldiio.load_mat(str(g)) if g.is_file() else None
        self.lm_searchers: dict = {}  # LM options -> LexiconLMSearch (see decode)

    @torch.no_grad()
    def log_probs(self, feats: list) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of (T_i, D) arrays -> (log_probs (B, T', V), out_lens (B,))."""
        lens = torch.tensor([len(f) for f in feats])
        x = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(f) for f in feats],
                                            batch_first=True).to(self.device)  # fmt: skip
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.precision == "bf16"):  # fmt: skip
            lp, out_lens = self.model(x, lens.to(self.device))
        return lp.float().cpu(), out_lens.cpu()

    @property
    def stride(self) -> int:
        """Frames per output step (the input convolution's subsampling)."""
        return int(getattr(self.model, "stride", 1))


def resolve_am_precision(precision: str, meta: dict, device: str = "cpu") -> str:
    """The AM's inference arithmetic for ``decode --am-precision``: ``fp32`` or
    ``bf16`` as given; ``auto`` is ``bf16`` when the AM was trained in bf16
    (am.json's ``precision``) and the device runs bf16 fast
    (:func:`pipeline.config.resolve_precision`), else ``fp32``."""
    from pipeline.config import INFERENCE_PRECISIONS, resolve_precision

    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"unknown AM precision '{precision}' "
                         f"({', '.join(INFERENCE_PRECISIONS)})")  # fmt: skip
    if precision != "auto":
        return precision
    trained = meta.get("precision", "fp32")
    return "bf16" if trained == "bf16" and resolve_precision("auto", device) == "bf16" else "fp32"


def phase_offsets(stride: int, phases: int) -> list[int]:
    """The input shifts (frames) of ``phases`` subsampling phases of an AM of
    ``stride``: evenly spread over one stride (6, 3 -> [0, 2, 4])."""
    if not 1 <= phases <= max(stride, 1):
        raise ValueError(f"--phases must be between 1 and the AM's stride ({stride}), "
                         f"got {phases}")  # fmt: skip
    return [i * stride // phases for i in range(phases)]


def _search_name(beam: int, grammar: str | None, lm: dict | None = None,
                 phases: int = 1) -> str:  # fmt: skip
    """What decode.json records as ``search`` (so a finished decode of an older
    meaning of an option is not taken as complete)."""
    if lm:
        return "lexicon-lm-beam"
    if phases > 1:  # the phases' slot posteriors averaged, each slot's best word
        return f"grid-mbr-{phases}phases"
    if grammar == "grid":
        return "grid-viterbi"
    if grammar == "grid-mbr":
        return "grid-mbr"
    return ("beam" if beam > 1 else "best-path") + ("+grid-snap" if grammar == "grid-snap" else "")


def lm_options(lm=None, lexicon=None, lm_weight: float = 2.0,
               word_score: float = 0.0) -> dict | None:  # fmt: skip
    """The LM options as decode.json records them (None without an LM)."""
    if lm is None:
        return None
    from pipeline.stamp import file_id

    return {"lm": str(Path(lm).resolve()), "lm_id": file_id(lm),
            "lexicon": str(Path(lexicon).resolve()) if lexicon else None,
            "lm_weight": float(lm_weight), "word_score": float(word_score)}


def decode_is_complete(am_dir, data_dir, out_dir, frontend=None, beam: int = 1,
                       grammar: str | None = None, lm: dict | None = None,
                       frontend_precision: str = "fp32", device: str = "cpu",
                       phases: int = 1, am_precision: str = "fp32") -> bool:  # fmt: skip
    """True if ``out_dir`` holds a finished decode (``decode.json`` is written
    last) of ``data_dir`` with the same options, newer than the AM's checkpoints."""
    from pipeline.config import resolve_precision
    from pipeline.scoring import read_decode_meta

    meta = read_decode_meta(out_dir)
    if meta is None:
        return False
    marker = Path(out_dir) / "decode.json"
    try:  # (decodes of older versions lack phases and am_precision: 1, fp32)
        am_meta = json.loads((Path(am_dir) / "am.json").read_text())
        same_am = (meta.get("phases", 1) == phases and meta.get("am_precision", "fp32")
                   == resolve_am_precision(am_precision, am_meta, device))  # fmt: skip
    except (OSError, ValueError):
        return False
    same = same_am and (meta.get("data_dir") == str(Path(data_dir).resolve())
            and meta.get("beam") == beam and meta.get("grammar") == (grammar or "none")
            and meta.get("search") == _search_name(beam, grammar, lm, phases)
            and meta.get("lm") == lm
            and meta.get("frontend_dir") == (str(Path(frontend).resolve())
                                             if frontend else None)
            # (decodes of older versions ran their front-end in fp32 and lack it)
            and meta.get("frontend_precision", "fp32" if frontend else None)
            == (resolve_precision(frontend_precision, device) if frontend else None))  # fmt: skip
    if grammar in SLOT_GRAMMARS:  # (decodes of older versions lack them)
        from pipeline.asr.combine import SLOT_POST

        same = same and (Path(out_dir) / SLOT_POST).is_file()
    return same and marker.stat().st_mtime > _model_mtime(am_dir)


def _model_mtime(am_dir) -> float:
    """Newest mtime of the AM's checkpoints (``save/``): what changes only when the
    model is trained further. (Not the whole AM dir: other decodes write there, in
    parallel, and a resumed ``train-am`` that had nothing left to do rewrites
    am.json.)"""
    newest = 0.0
    for f in (Path(am_dir) / "save").rglob("*"):
        try:
            if f.is_file():
                newest = max(newest, f.stat().st_mtime)
        except FileNotFoundError:  # removed while we looked
            continue
    return newest


def decode(am_dir: str | Path, data_dir: str | Path, out_dir: str | Path,
           frontend: str | Path | None = None, beam: int = 1,
           grammar: str | None = None, device: str = "cpu",
           batch_frames: int = 20000, am: LoadedAM | None = None,
           lm: dict | None = None, frontend_precision: str = "fp32",
           phases: int = 1, am_precision: str = "fp32") -> dict:  # fmt: skip
    """Decode every utterance of ``data_dir`` and score it (see module doc).

    Args:
        frontend: a front-end model dir; its ``FeatureEnhancer`` enhances the
            features on the fly before CMVN (pasted beside them for an AM trained
            on pasted features: ``feats_type`` ``fbank+fbank`` in its am.json).
        frontend_precision: the front-end's arithmetic (``fp32``, ``bf16``,
            ``auto``; see ``enhance --precision``): ``auto`` matches the features
            the recipes enhance, which their ``mct_<fe>`` AMs were trained on.
        beam: 1 = best path; > 1 = CTC prefix beam search with this beam.
        grammar: None / ``"none"``, ``"grid"`` (constrained Viterbi search),
            ``"grid-mbr"`` (constrained, per-slot posteriors) or ``"grid-snap"``
            (post-hoc snap).
        phases: subsampling phases to average (``grid`` / ``grid-mbr`` only;
            1 to the AM's stride; see the module doc).
        am_precision: the AM's arithmetic (``fp32``, ``bf16``, ``auto``:
            :func:`resolve_am_precision`); a given ``am`` keeps its own.
        batch_frames: frames per forward batch.
        am: an already loaded model (to decode several dirs without reloading).
        lm: :func:`lm_options` of a word n-gram LM: lexicon beam search
            (:class:`pipeline.asr.lm.LexiconLMSearch`) with beam ``beam``.

    Returns:
        The WER counts (see :func:`pipeline.scoring.error_counts`) plus ``rtf``.
    """
    import numpy as np

    from pipeline.asr.combine import slot_decision, slot_vector, write_slot_posteriors
    from pipeline.asr.grammar import GridMBRSearch, GridSearch, snap_to_grid
    from pipeline.asr.train import greedy_ids
    from pipeline.scoring import frontend_of_decode_dir, write_decode_scores
    from pipeline.stamp import atomic_text

    if grammar not in (None, *GRAMMARS):
        raise ValueError(f"unknown grammar '{grammar}' ({', '.join(GRAMMARS)})")
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    d = DataDir.load(data_dir)
    if phases > 1 and grammar not in SLOT_GRAMMARS:
        raise ValueError("phases > 1 needs a GRID-constrained search (grammar grid or "
                         "grid-mbr): their slot posteriors are what is averaged")  # fmt: skip
    am = am or LoadedAM(am_dir, device, am_precision)
    offsets = phase_offsets(am.stride, phases)
    enhancer = None
    if frontend is not None:
        from pipeline.enhance import FeatureEnhancer  # lazily: optional front-end

        enhancer = FeatureEnhancer.load(frontend, device=device, precision=frontend_precision)
    searcher = grid_search = slot_search = lm_search = None
    if lm is not None:
        from pipeline.asr.lm import LexiconLMSearch, LMError

        if grammar not in (None, "none"):
            raise ValueError("--lm and --grammar exclude each other")
        key = json.dumps([lm, beam], sort_keys=True)
        lm_search = am.lm_searchers.get(key)  # built once for every pair of a run
        if lm_search is None:
            try:
                lm_search = LexiconLMSearch(
                    am.tokens, lm["lm"], out_dir, lexicon=lm["lexicon"],
                    lm_weight=lm["lm_weight"], word_score=lm["word_score"], beam=beam)  # fmt: skip
            except LMError as e:
                raise DataDirError(str(e), path=lm["lm"]) from None
            am.lm_searchers[key] = lm_search
        if lm_search.left_out:
            logger.warning("decode: %d LM words hold characters the AM has no unit "
                           "for and are left out of the lexicon, e.g. %s",
                           len(lm_search.left_out), lm_search.left_out[0])  # fmt: skip
    elif grammar in SLOT_GRAMMARS:
        try:
            grid_search = GridSearch(am.tokens.units)
            slot_search = GridMBRSearch(am.tokens.units)  # slot posteriors
        except ValueError as e:
            raise DataDirError(str(e), path=Path(am.exp_dir) / "tokens.txt") from None
        if grid_search.missing:
            logger.warning("decode: %d GRID words are not units of the AM (never in "
                           "its training text) and cannot be recognised: %s",
                           len(grid_search.missing), " ".join(grid_search.missing))  # fmt: skip
    elif beam > 1:
        from speechbrain.decoders.ctc import CTCPrefixBeamSearcher

        searcher = CTCPrefixBeamSearcher(blank_index=0, vocab_list=am.tokens.vocab_list(),
                                         space_token=" ", beam_size=beam,
                                         prune_history=False)  # fmt: skip
    t0 = time.perf_counter()
    hyps: dict[str, str] = {}
    slot_post: dict = {}  # GRID: utt -> (51,) slot posteriors
    n_frames = 0
    # an AM trained on pasted features (paste-feats: enhanced + unprocessed) gets
    # the front-end's output pasted beside its input here too
    paste = enhancer is not None and "+" in (am.meta.get("feats_type") or "")
    feats = iter_features(data_dir, am.meta["cmvn"], am.meta["norm_vars"],
                          am.global_cmvn, enhancer, paste=paste)  # fmt: skip

    def flush(batch):
        lp, lens = am.log_probs([f for _, f in batch])
        if lm_search is not None:
            texts = lm_search(lp, lens)
        elif grid_search is not None and len(offsets) > 1:
            vecs: list[list] = [[] for _ in batch]
            for off in offsets:  # each phase: the features from frame `off` on
                keep = [i for i, (_, f) in enumerate(batch) if off == 0 or len(f) > off]
                if not keep:
                    continue
                lp_o, lens_o = (lp, lens) if off == 0 else am.log_probs(
                    [batch[i][1][off:] for i in keep])  # fmt: skip
                for i, p in zip(keep, slot_search.slot_posteriors(lp_o, lens_o)):
                    if p is not None:
                        vecs[i].append(slot_vector(p, slot_search.slot_words))
            texts = []
            for (u, _), v in zip(batch, vecs):
                if v:
                    slot_post[u] = np.mean(v, axis=0).astype(np.float32)
                texts.append(" ".join(slot_decision(slot_post[u])) if v else "")
        elif grid_search is not None:
            post = slot_search.slot_posteriors(lp, lens)
            for (u, _), p in zip(batch, post):
                if p is not None:
                    slot_post[u] = slot_vector(p, slot_search.slot_words)
            words = slot_search.decide(post) if grammar == "grid-mbr" else grid_search(lp, lens)
            texts = [" ".join(w) for w in words]
        elif searcher is None:
            texts = [am.tokens.decode(s) for s in greedy_ids(lp, lens)]
        else:
            rel = lens.float() / lp.shape[1]
            texts = [" ".join(h[0].text.replace("▁", " ").split()) if h else ""
                     for h in searcher(lp, rel)]  # fmt: skip
        for (u, _), t in zip(batch, texts):
            hyps[u] = " ".join(snap_to_grid(t.split())) if grammar == "grid-snap" else t

    def drain(pending):  # shortest first: batches of like lengths pad little
        pending.sort(key=lambda x: len(x[1]))
        batch, size = [], 0
        for u, f in pending:
            batch.append((u, f))
            size += len(f)
            if size >= batch_frames:
                flush(batch)
                batch, size = [], 0
        if batch:
            flush(batch)

    # utterances are read in windows of 8 batches and batched by length within
    # each (simgrid's test sets padded 25% in file order, 4% sorted); memory stays
    # one window, whatever the data dir's size
    pending, size = [], 0
    for u, f in feats:
        if f.shape[1] != am.meta["feat_dim"]:
            raise DataDirError(
                f"utterance {u} has {f.shape[1]}-dim features"
                f"{' after the front-end' if enhancer is not None else ''}, but the AM "
                f"{am.exp_dir} was trained on {am.meta['feat_dim']}-dim ones (an AM "
                "trained on pasted features needs a data dir pasted the same way: "
                "python -m pipeline paste-feats)", path=data_dir / "feats.scp")  # fmt: skip
        pending.append((u, f))
        size += len(f)
        n_frames += len(f)
        if size >= 8 * batch_frames:
            drain(pending)
            pending, size = [], 0
    drain(pending)
    elapsed = time.perf_counter() - t0
    missing = [u for u in d.utts if u not in hyps]
    if missing:
        logger.warning("decode: %d of %d utterances have no hypothesis (empty hyp "
                       "lines written), e.g. %s", len(missing), len(d), missing[0])  # fmt: skip
    (out_dir / "decode.json").unlink(missing_ok=True)  # written last: the done mark
    counts = write_decode_scores(out_dir, d.text, hyps)
    if slot_search is not None:
        write_slot_posteriors(out_dir, slot_post)
    for name in ("utt2snr", "utt2cond"):
        if (data_dir / name).is_file():
            shutil.copyfile(data_dir / name, out_dir / name)
    fe_name = frontend_of_decode_dir(out_dir, data_dir.name)
    rtf = elapsed / max(n_frames * 0.01, 1e-9)
    meta = dict(am=Path(am.exp_dir).name,
                frontend=fe_name or (Path(frontend).name if frontend else "none"),
                test_set=data_dir.name, data_dir=str(data_dir.resolve()),
                frontend_dir=str(Path(frontend).resolve()) if frontend else None,
                frontend_precision=enhancer.precision if enhancer is not None else None,
                beam=beam, grammar=grammar or "none",
                search=_search_name(beam, grammar, lm, phases), phases=phases,
                am_precision=am.precision,
                lm=lm,
                decode_s=round(elapsed, 2),
                audio_s=round(n_frames * 0.01, 1), rtf=round(rtf, 5),
                n_missing=len(missing))  # fmt: skip
    atomic_text(out_dir / "decode.json", json.dumps(meta, indent=1) + "\n")
    logger.info("decode %s -> %s: WER %.2f%% (%d/%d), RTF %.4f", data_dir, out_dir,
                counts["wer"], counts["n_err"], counts["n_words"], rtf)  # fmt: skip
    return dict(counts, rtf=rtf)
