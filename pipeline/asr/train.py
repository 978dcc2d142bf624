"""Train a CTC acoustic model with SpeechBrain (``python -m pipeline train-am``).

A :class:`CTCBrain` (``speechbrain.Brain``) trains
:class:`pipeline.asr.model.AcousticModel` on Kaldi features read through kaldiio in
a ``DynamicItemDataset`` (dynamic item: ark entry -> CMVN-normalised matrix),
batched by length with SpeechBrain's ``DynamicBatchSampler``. A checkpoint is
written every epoch (``EXP/save``, SpeechBrain ``Checkpointer``: the latest and the
best by dev WER are kept); rerunning the same command resumes from the latest.

The model dir holds everything decoding needs::

    EXP/hparams.yaml   the config used (HyperPyYAML)
    EXP/am.json        feat_dim, feats_type (fbank; fbank+fbank when pasted),
                       n_tokens, token kind, CMVN mode, seed, data
    EXP/tokens.txt     output units (blank = 0)
    EXP/cmvn_global.ark  training-set global CMVN stats (for cmvn: global)
    EXP/save/          checkpoints
    EXP/train_log.txt  per-epoch losses, dev WER, timings
    EXP/train.done     written when training finished
    EXP/request.json   what was asked (config hash, input fingerprints; written by
                       the train-am verb, see pipeline.stamp)
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path

import kaldiio
import numpy as np
import speechbrain as sb
import torch

from pipeline.asr.data import CMVN_MODES, Tokens, global_stats, normalise, training_entries  # noqa: E501
from pipeline.asr import AM_OUTPUTS, DEFAULT_CONFIG  # noqa: F401 - re-exported
from pipeline.asr import model as am_model
from pipeline.config import PRECISIONS, fused_optimizer, resolve_precision
from pipeline.datadir import DataDirError
from pipeline.make_feats import feats_kind
from pipeline.stamp import atomic_text, finished_stamp, mark_done

logger = logging.getLogger(__name__)



def greedy_ids(log_probs: torch.Tensor, lens: torch.Tensor) -> list[list[int]]:
    """CTC best path: argmax per step, repeats merged, blanks (0) removed.
    log_probs: (B, T, V); lens: (B,) steps."""
    best = log_probs.argmax(-1).cpu().numpy()
    out = []
    for b, n in zip(best, lens.cpu().tolist()):
        seq = b[:n]
        keep = np.ones(len(seq), dtype=bool)
        keep[1:] = seq[1:] != seq[:-1]
        out.append([int(t) for t in seq[keep] if t != 0])
    return out


class CTCBrain(sb.Brain):
    """CTC training: forward, loss, per-epoch dev WER (greedy) and checkpoints.

    Also measures the share of each training step spent waiting for data
    (``data_share`` in the train log)."""

    def _wrap_distributed(self):
        """DDP as SpeechBrain wraps it, except on CPUs (gloo): there BatchNorm stays
        per process (SyncBatchNorm runs on GPUs only)."""
        if not (self.distributed_launch and self.distributed_backend == "gloo"):
            return super()._wrap_distributed()
        from torch.nn.parallel import DistributedDataParallel as DDP

        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                self.modules[name] = DDP(module, find_unused_parameters=self.find_unused_parameters)

    def on_fit_start(self):
        super().on_fit_start()
        self._t_end = None
        self._wait = self._busy = 0.0

    def on_fit_batch_start(self, batch, should_step):
        now = time.perf_counter()
        if self._t_end is not None:
            self._wait += now - self._t_end
        self._t_start = now
        # linear warm-up, then cosine decay to 5% of the peak LR
        n_batches = max(self.n_batches, 1)
        epochs = self.hparams.number_of_epochs
        progress = ((self.hparams.epoch_counter.current - 1) + (self.step - 1) / n_batches) / epochs  # noqa: E501
        w = self.hparams.warmup_ratio
        if progress < w:
            scale = (progress + 1e-3) / w
        else:
            scale = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (progress - w) / (1 - w))))  # noqa: E501
        for g in self.optimizer.param_groups:
            g["lr"] = self.hparams.lr * scale

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        self._t_end = time.perf_counter()
        self._busy += self._t_end - self._t_start

    def compute_forward(self, batch, stage):
        batch = batch.to(self.device)
        feats, rel = batch.feats
        lens = torch.round(rel * feats.shape[1]).long()
        if stage == sb.Stage.TRAIN and random.random() < self.hparams.spec_augment_prob:
            feats = self.hparams.spec_augment(feats, lens)
        if stage == sb.Stage.TRAIN:
            feats, lens = self._perturb_time(feats, lens)
        return self.modules.model(feats, lens)

    def _perturb_time(self, feats, lens):
        """The config's time-axis augmentation of a training batch, one draw per
        batch: ``speed_perturb`` x (features stretched by a factor in [1 - x,
        1 + x], :func:`~pipeline.asr.model.stretch_time`), then ``random_phase``
        (the first 0 .. stride - 1 frames dropped,
        :func:`~pipeline.asr.model.shift_phase`)."""
        sp = float(getattr(self.hparams, "speed_perturb", 0.0) or 0.0)
        if sp > 0:
            feats, lens = am_model.stretch_time(feats, lens, random.uniform(1 - sp, 1 + sp))
        if getattr(self.hparams, "random_phase", False):
            stride = max(int(getattr(self.hparams.model, "stride", 1)), 1)
            feats, lens = am_model.shift_phase(feats, lens, random.randrange(stride))
        return feats, lens

    def compute_objectives(self, predictions, batch, stage):
        log_probs, out_lens = predictions
        tokens, tok_rel = batch.tokens
        tok_lens = torch.round(tok_rel * tokens.shape[1]).long()
        loss = torch.nn.functional.ctc_loss(
            log_probs.transpose(0, 1), tokens, out_lens, tok_lens, blank=0,
            reduction="mean", zero_infinity=True,
        )  # fmt: skip
        if stage != sb.Stage.TRAIN:
            from pipeline.scoring import error_counts

            hyps = [self.tokens.decode(s) for s in greedy_ids(log_probs, out_lens)]
            c = error_counts(dict(zip(batch.id, batch.text)), dict(zip(batch.id, hyps)))
            self._err += c["n_err"]
            self._words += c["n_words"]
        return loss

    def on_stage_start(self, stage, epoch=None):
        self._err = self._words = 0
        self._t_stage = time.time()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        if stage == sb.Stage.TRAIN:
            self._train_loss = stage_loss
            self._train_time = time.time() - self._t_stage
            total = self._wait + self._busy
            self._data_share = self._wait / total if total > 0 else 0.0
            self._wait = self._busy = 0.0
            self._t_end = None
            return
        wer = 100.0 * self._err / max(self._words, 1)
        stats = {"loss": round(float(stage_loss), 4), "WER": round(wer, 2)}
        if stage == sb.Stage.VALID:
            train = {"loss": round(float(self._train_loss), 4),
                     "time_s": round(self._train_time, 1),
                     "data_share": round(self._data_share, 4)}  # fmt: skip
            self.hparams.train_logger.log_stats(
                {"epoch": epoch, "lr": round(self.optimizer.param_groups[0]["lr"], 6)},
                train_stats=train, valid_stats=stats,
            )  # fmt: skip
            (logger.info if sb.utils.distributed.if_main_process() else logger.debug)(
                        "epoch %d: train loss %.3f (%.0f s, data %.1f%%), dev loss "
                        "%.3f, dev WER %.2f%%", epoch, self._train_loss,
                        self._train_time, 100 * self._data_share, stage_loss, wer)  # fmt: skip
            counter = self.hparams.epoch_counter
            if hasattr(counter, "update_metric"):  # EpochCounterWithStopper: early stop
                counter.update_metric(wer)
            self.checkpointer.save_and_keep_only(meta={"WER": wer, "epoch": epoch},
                                                 min_keys=["WER"], num_to_keep=1)  # fmt: skip


def make_dataset(entries: dict, stats: dict, tokens: Tokens, cmvn: str,
                 norm_vars: bool, global_cmvn=None, cache: bool = False):  # fmt: skip
    """A DynamicItemDataset whose items are ``feats`` (T, D) float32 (loaded with
    kaldiio and CMVN-normalised on access), ``tokens`` (L,) int64 and ``text``.

    ``cache``: keep each matrix in memory after its first read, so epochs after
    the first read nothing from disk (see :func:`fits_in_memory`)."""
    from speechbrain.dataio.dataset import DynamicItemDataset
    from speechbrain.utils.data_pipeline import provides, takes

    cache = {} if cache else None

    @takes("ark", "cmvn_key")
    @provides("feats")
    def feats_pipeline(ark, key):
        if cache is not None and ark in cache:
            return cache[ark]  # read-only downstream: batching pads into a copy
        st = global_cmvn if cmvn == "global" else stats.get(key)
        x = torch.from_numpy(normalise(kaldiio.load_mat(ark), cmvn, st, norm_vars))
        if cache is not None:
            cache[ark] = x
        return x

    @takes("text")
    @provides("tokens")
    def tokens_pipeline(text):
        return torch.tensor(tokens.encode(text), dtype=torch.long)

    ds = DynamicItemDataset(entries, dynamic_items=[feats_pipeline, tokens_pipeline],
                            output_keys=["id", "feats", "tokens", "text"])  # fmt: skip
    return ds


def fits_in_memory(entries: dict, feat_dim: int, limit_mb: float) -> bool:
    """Whether the float32 features of ``entries`` take at most ``limit_mb`` MB
    (the MCT set of the default corpus: 306 MB)."""
    return sum(e["num_frames"] for e in entries.values()) * feat_dim * 4 / 2**20 <= limit_mb


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# what train-am reads from a config: typed defaults for the checks (the values
# themselves come from the file), and the objects it must build
AM_KEYS = dict(seed=0, feat_dim=40, n_tokens=2, token_type="word", cmvn="speaker",
               norm_vars=True, max_batch_frames=1, num_buckets=1,
               number_of_epochs=1, lr=0.1, warmup_ratio=0.1, max_grad_norm=1.0,
               spec_augment_prob=0.5, precision="fp32", max_train_utts=0,
               feats_cache_mb=1024.0, init_epochs=1, init_lr=0.1, speed_perturb=0.0,
               random_phase=False, init_speed_perturb=0.0, init_random_phase=False)  # fmt: skip
AM_INT_KEYS = ("seed", "feat_dim", "n_tokens", "max_batch_frames", "num_buckets",
               "number_of_epochs", "max_train_utts", "init_epochs")  # fmt: skip
# speed_perturb / random_phase: time-axis augmentation (CTCBrain._perturb_time; off)
# init_*: the value of another key for a model started from another AM (train-am
# --init; absent: the same as from scratch)
INIT_KEYS = {"init_epochs": "number_of_epochs", "init_lr": "lr",
             "init_speed_perturb": "speed_perturb", "init_random_phase": "random_phase"}
AM_OPTIONAL = ("precision", "max_train_utts", "feats_cache_mb", "speed_perturb",
               "random_phase", *INIT_KEYS)  # fmt: skip
AM_CHOICES = {"token_type": ("char", "word"), "cmvn": CMVN_MODES,
              "precision": PRECISIONS}  # fmt: skip
AM_OBJECTS = ("model", "opt_class", "epoch_counter", "spec_augment")


def load_hparams(config: str | Path, overrides: dict | None = None) -> tuple[dict, str]:
    """(hparams, yaml text) of a config file with ``overrides`` applied; raises
    :class:`pipeline.config.ConfigError` naming the file and key when it cannot
    be loaded or a value has the wrong type."""
    from pipeline.config import ConfigError, check_values, load_yaml, require_keys

    text = Path(config).read_text(encoding="utf-8")
    hp = load_yaml(config, overrides, text=text)
    require_keys(hp, [k for k in AM_KEYS if k not in AM_OPTIONAL] + list(AM_OBJECTS),
                 str(config))  # fmt: skip
    check_values(hp, AM_KEYS, str(config), int_keys=AM_INT_KEYS, choices=AM_CHOICES)
    if not isinstance(hp["model"], torch.nn.Module):
        raise ConfigError(f"{config}.model must build a torch.nn.Module (!new:...), "
                          f"got {type(hp['model']).__name__}")  # fmt: skip
    for key in ("speed_perturb", "init_speed_perturb"):
        if not 0 <= float(hp.get(key) or 0.0) < 1:
            raise ConfigError(f"{config}.{key} must be in [0, 1) (stretch factors "
                              f"1 -/+ it), got {hp[key]!r}")  # fmt: skip
    return hp, text


def check_config(config: str | Path, seed: int | None = None) -> None:
    """Load ``config`` once to report its mistakes before anything is written."""
    load_hparams(config, {"seed": seed} if seed is not None else None)


def check_finite_inputs(dirs) -> None:
    """Refuse training data with NaN/inf features (``feats.scp:LINE``, utterance)
    before training starts, instead of SpeechBrain's anonymous "Loss is not
    finite" many minutes later."""
    from pipeline.datadir import DataDir, check_finite

    for p in dirs:
        d = DataDir.load(p)
        check_finite(p, ((u, kaldiio.load_mat(d.feats_scp[u])) for u in d.utts
                         if u in (d.feats_scp or {})))  # fmt: skip


def init_from(model: torch.nn.Module, src, feat_dim: int, pasted: bool) -> int:
    """Load the weights of ``src`` (a :class:`pipeline.asr.decode.LoadedAM`: its best
    checkpoint) into ``model``.

    The two models must be the same apart from the input dimension: when ``model``
    reads ``feat_dim`` = k x ``src``'s dimension D0 on ``pasted`` features (the
    front-end's output pasted beside ``src``'s own, ``paste-feats OUT ENH DATA``:
    ``src``'s features last), the input convolution keeps ``src``'s weights for the
    last D0 inputs and starts at 0 for the others, so the new model starts as
    ``src``'s function. Returns the offset of ``src``'s features in the input (0
    when the dimensions are equal). Raises :class:`DataDirError` naming what
    differs."""
    where = src.exp_dir / "hparams.yaml"
    d0 = int(src.meta["feat_dim"])
    if feat_dim != d0 and (feat_dim % d0 or not pasted):
        raise DataDirError(f"--init: its AM reads {d0}-d features, these are "
                           f"{feat_dim}-d and not pasted beside them (paste-feats)",
                           path=src.exp_dir / "am.json")  # fmt: skip
    state = src.model.state_dict()
    own = model.state_dict()
    offset = feat_dim - d0
    if set(state) != set(own):
        diff = sorted(set(state) ^ set(own))
        raise DataDirError(f"--init: another architecture (parameters {', '.join(diff[:3])} "
                           "are in one model only)", path=where)  # fmt: skip
    for name, w in state.items():
        if own[name].shape == w.shape:
            continue
        if name == "conv.weight" and offset and own[name].shape[1] == feat_dim \
                and own[name].shape[0] == w.shape[0] and own[name].shape[2:] == w.shape[2:]:  # noqa: E501
            wide = torch.zeros_like(own[name])
            wide[:, offset:] = w
            state[name] = wide
            continue
        raise DataDirError(f"--init: '{name}' is {tuple(w.shape)} there, "
                           f"{tuple(own[name].shape)} here (another model size)",
                           path=where)  # fmt: skip
    model.load_state_dict(state)
    return offset


def train_am(config: str | Path, train_dirs: list[str | Path], dev_dir: str | Path,
             out_dir: str | Path, device: str = "cpu", seed: int | None = None,
             progress: bool = False, init: str | Path | None = None) -> Path:  # fmt: skip
    """Train (or resume training) an acoustic model in ``out_dir``.

    Args:
        config: HyperPyYAML hparams (see ``pipeline/asr/hparams/am_default.yaml``).
        train_dirs: data dirs with feats.scp; several are combined (ids made
            unique with suffixes when they collide, e.g. MCT).
        dev_dir: data dir for the per-epoch dev loss / WER (checkpoint selection).
        out_dir: the model dir (created); rerunning resumes from its checkpoint.
        device: ``cpu`` or ``cuda``.
        seed: overrides the config's seed.
        init: a finished AM dir to start from (:func:`init_from`; its tokens,
            CMVN mode and model size are kept) instead of a random start; then
            the config's ``init_*`` keys (when set, :data:`INIT_KEYS`) replace
            theirs: ``init_epochs`` / ``init_lr`` / ``init_speed_perturb`` /
            ``init_random_phase`` for ``number_of_epochs`` / ``lr`` /
            ``speed_perturb`` / ``random_phase``.

    Returns:
        ``out_dir``.
    """
    from speechbrain.dataio.sampler import DynamicBatchSampler
    from speechbrain.utils.checkpoints import Checkpointer
    from speechbrain.utils.train_logger import FileTrainLogger

    from pipeline import distributed as ddp

    device = ddp.init(device)  # torchrun: join the process group (no-op otherwise)
    main = ddp.is_main()  # only rank 0 writes
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw, _ = load_hparams(config, {"seed": seed} if seed is not None else None)
    seed = int(raw["seed"])
    _seed_all(seed)
    t0 = time.time()
    entries, stats, _ = training_entries(train_dirs)
    n_max = int(raw.get("max_train_utts") or 0)
    if 0 < n_max < len(entries):  # a random subset (the seed's), e.g. for smoke tests
        keep = np.random.default_rng(seed).choice(len(entries), n_max, replace=False)
        keys = sorted(entries)
        entries = {keys[i]: entries[keys[i]] for i in sorted(keep)}
        logger.info("train-am: max_train_utts %d: training on a random subset", n_max)
    dev_entries, dev_stats, _ = training_entries([dev_dir])
    tok_path = out_dir / "tokens.txt"
    src = None
    if init is not None:  # the AM to start from, loaded once
        from pipeline.asr.decode import LoadedAM

        finished_stamp(init, "--init")  # a finished AM dir, else a clear error
        src = LoadedAM(init)
        for key in ("token_type", "cmvn", "norm_vars"):
            have = src.meta.get(key)
            if have is not None and have != raw[key]:
                raise DataDirError(f"--init: its AM has {key} {have!r}, the config "
                                   f"{raw[key]!r}", path=Path(init) / "am.json")  # fmt: skip

    def _tokens():
        if tok_path.is_file():  # resuming: keep the unit ids of the checkpoint
            return Tokens.load(tok_path)
        t = Tokens.from_texts((e["text"] for e in entries.values()), raw["token_type"])
        if src is not None:  # the init AM's output units, which must cover these
            new = sorted(set(t.units) - set(src.tokens.units))
            if new:
                raise DataDirError(f"--init: the training text has units its AM "
                                   f"lacks: {' '.join(new[:10])}",
                                   path=Path(init) / "tokens.txt")  # fmt: skip
            t = src.tokens
        t.save(tok_path)
        return t

    tokens = ddp.on_main(_tokens)
    gstats = global_stats(train_dirs) if raw["cmvn"] == "global" else None
    if gstats is not None and main:
        kaldiio.save_mat(str(out_dir / "cmvn_global.ark"), gstats)
    first = next(iter(entries.values()))
    feat_dim = int(kaldiio.load_mat(first["ark"]).shape[1])
    overrides = {"feat_dim": feat_dim, "n_tokens": len(tokens), "seed": seed}
    tuned = {}  # the schedule (and augmentation) of a fine-tuned model
    if init is not None:
        tuned = {key: type(AM_KEYS[key])(raw[k])  # as the key's own type (5.0 -> 5)
                 for k, key in INIT_KEYS.items() if raw.get(k) is not None}  # fmt: skip
    # HyperPyYAML overrides only keys the file has; the others are set after loading
    overrides.update({k: v for k, v in tuned.items() if k in raw})
    hp, text = load_hparams(config, overrides)
    hp.update({k: v for k, v in tuned.items() if k not in raw})
    feats_type = feats_kind(train_dirs[0])  # fbank+fbank: pasted
    init_offset = None
    if src is not None:  # (a resumed run's checkpoint replaces these weights)
        init_offset = init_from(hp["model"], src, feat_dim, "+" in (feats_type or ""))
        (logger.info if main else logger.debug)(
            "train-am: starting from %s (its features at input dims %d-%d), %d "
            "epochs, peak LR %g, speed perturbation %g, random phase %s", init,
            init_offset, feat_dim - 1, hp["number_of_epochs"], hp["lr"],
            float(hp.get("speed_perturb") or 0.0), bool(hp.get("random_phase")))  # fmt: skip
    if main:
        (out_dir / "hparams.yaml").write_text(text)
    precision = resolve_precision(hp.get("precision", "fp32"), str(device))
    meta = dict(feat_dim=feat_dim,
                feats_type=feats_type,
                n_tokens=len(tokens), token_type=tokens.kind,
                cmvn=hp["cmvn"], norm_vars=bool(hp["norm_vars"]), seed=seed,
                train=[str(Path(p).resolve()) for p in train_dirs],
                dev=str(Path(dev_dir).resolve()),
                n_train_utts=len(entries),
                n_params=sum(p.numel() for p in hp["model"].parameters()),
                precision=precision, world_size=ddp.world_size(),
                epochs=int(hp["number_of_epochs"]), lr=float(hp["lr"]),
                init=None if init is None else str(Path(init).resolve()),
                init_offset=init_offset)  # fmt: skip
    if main:
        atomic_text(out_dir / "am.json", json.dumps(meta, indent=1) + "\n")
    (logger.info if main else logger.debug)("train-am: %d train utts (%d frames), %d dev, %d tokens (%s), "
                "%d params, %s; data ready in %.1f s", len(entries),
                sum(e["num_frames"] for e in entries.values()), len(dev_entries),
                len(tokens), tokens.kind, meta["n_params"], precision,
                time.time() - t0)  # fmt: skip

    # training features stay in memory after epoch 1 when they fit (optional key)
    cache_mb = float(hp.get("feats_cache_mb", AM_KEYS["feats_cache_mb"]))
    train_ds = make_dataset(entries, stats, tokens, hp["cmvn"], hp["norm_vars"], gstats,
                            cache=fits_in_memory(entries, feat_dim, cache_mb))  # fmt: skip
    dev_ds = make_dataset(dev_entries, dev_stats, tokens, hp["cmvn"], hp["norm_vars"], gstats)  # noqa: E501
    lengths = [e["num_frames"] for e in entries.values()]
    sampler = DynamicBatchSampler(
        train_ds, max_batch_length=hp["max_batch_frames"],
        num_buckets=min(hp["num_buckets"], max(1, len(entries) // 4)),
        lengths_list=lengths, shuffle=True, batch_ordering="random", seed=seed,
    )  # fmt: skip
    dev_ds = dev_ds.filtered_sorted(sort_key="num_frames")
    hp["train_logger"] = FileTrainLogger(out_dir / "train_log.txt")
    checkpointer = Checkpointer(out_dir / "save", recoverables={
        "model": hp["model"], "counter": hp["epoch_counter"]})  # fmt: skip
    brain = CTCBrain(
        modules={"model": hp["model"]}, hparams=hp,
        opt_class=fused_optimizer(hp["opt_class"], device),
        run_opts={"device": device, "noprogressbar": not progress,
                  "ckpt_interval_minutes": 0, "max_grad_norm": hp["max_grad_norm"],
                  # bf16: autocast in training (CPUs with avx512_bf16 / AMX, GPUs)
                  "precision": precision,
                  # torchrun: SpeechBrain wraps the model in DDP and shards the
                  # batch sampler per rank (DistributedSamplerWrapper)
                  "distributed_backend": "nccl" if str(device).startswith("cuda") else "gloo"},
        checkpointer=checkpointer,
    )  # fmt: skip
    brain.tokens = tokens
    # for the LR schedule: each rank takes every world_size-th batch
    brain.n_batches = math.ceil(len(sampler) / ddp.world_size())
    brain.fit(hp["epoch_counter"], train_ds, dev_ds,
              train_loader_kwargs={"batch_sampler": sampler, "num_workers": 0,
                                   "pin_memory": str(device).startswith("cuda")},
              valid_loader_kwargs={"batch_size": 64,
                                   "pin_memory": str(device).startswith("cuda")})  # fmt: skip
    ddp.barrier()
    if not main:
        return out_dir
    mark_done(out_dir)
    logger.info("train-am: done in %.0f s -> %s", time.time() - t0, out_dir)
    return out_dir


def check_train_dirs(dirs: list[str]) -> None:
    for p in dirs:
        if not (Path(p) / "feats.scp").is_file():
            raise DataDirError("expected feats.scp (run make-feats first)",
                               path=Path(p) / "feats.scp")  # fmt: skip
