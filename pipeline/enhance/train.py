"""Training of feature-mapping front-ends on parallel data (MSE in the normalised
target domain), with exact resume, dev evaluation, best-model keeping and early
stopping.

Layout of an experiment dir ``EXP``::

    config.yaml        the config as trained: every value, defaults included
    config.source.yaml the config file given (when one was)
    ckpt/last.pt       after every epoch: model, optimisers, schedule, history
    model.pt           the best model so far (lowest dev loss): what
                       :class:`pipeline.enhance.FeatureEnhancer` loads
    metrics.json       dev metrics of the best model (+ later eval-enhancer runs)
    train.done         written when training finished
    request.json       what was asked (config hash, input fingerprints; written
                       by the train-enhancer verb, see pipeline.stamp)

Each front-end brings a *training step* object (:func:`step_class`, looked up by
the ``frontend`` name): it samples minibatches from the in-memory training set and
does one optimisation step. By default that is :class:`ChunkStep`, the
reconstruction (MSE) loss of the model's ``core`` on chunks of frames, which any
:class:`~pipeline.enhance.models.FeatureMapper` can use. A front-end with more
(e.g. a GAN with its own discriminator and optimisers) subclasses
:class:`TrainStep`, overrides ``modules`` / ``train_batch`` and names it in
``@register_frontend(name, step=...)``; the :class:`Trainer` loop, checkpoints and
metrics are shared.

Exact resume: the random state of epoch ``e`` is reseeded from ``(seed, e)`` at its
start, and a checkpoint is written at its end, so a run interrupted anywhere and
resumed gives the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from pipeline import distributed as ddp
from pipeline.config import fused_optimizer, resolve_precision
from pipeline.datadir import DataDirError
from pipeline.enhance import STREAM_ABOVE_FRAMES, STREAM_BLOCK_FRAMES
from pipeline.enhance.data import ParallelSet, StreamedPairs, grouped_metrics
from pipeline.enhance.models import FeatureMapper, build_model
from pipeline.stamp import atomic_text, mark_done

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
LAST_CKPT = "ckpt/last.pt"
FORMAT_VERSION = 1

TRAIN_DEFAULTS = {
    "epochs": 10,
    "frames_per_epoch": 0,  # 0 = every training frame once per epoch
    "batch_size": 256,  # frames (dnn) or chunks (lstm)
    "chunk_len": 100,  # frames per training chunk (sequence models)
    "lr": 1e-3,
    "weight_decay": 0.0,
    "lr_decay": 0.5,  # multiply lr when the dev loss did not improve
    "patience": 3,  # stop after this many epochs without improvement
    "grad_clip": 5.0,
    # fp32 | bf16 (autocast around each update; the dev loss and the saved model
    # stay fp32) | auto (bf16 on a CPU with avx512_bf16 / AMX or a bf16 GPU)
    "precision": "fp32",
}


def _write_config(path: Path, conf: dict) -> None:
    import yaml

    atomic_text(path, "# as trained: every value, defaults included\n"
                + yaml.safe_dump(json.loads(json.dumps(conf)), sort_keys=False))


def _write_atomic(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class NormalizedData:
    """The training set normalised once, as contiguous float32 tensors.

    ``x``: all input frames of all utterances, each utterance edge-padded by
    ``pad`` frames (replicated), ``y``: targets (unpadded); ``x_start[i]`` and
    ``y_start[i]`` index utterance i.
    """

    def __init__(self, data: ParallelSet, model: FeatureMapper, pad: int):
        self.pad = pad
        xs, ys, self.lens = [], [], []
        with torch.no_grad():
            for x, y in zip(data.inputs, data.targets):
                xn = model.normalize_in(torch.from_numpy(x))
                if pad:
                    xn = torch.cat([xn[:1].expand(pad, -1), xn,
                                    xn[-1:].expand(pad, -1)])  # fmt: skip
                xs.append(xn)
                ys.append(model.normalize_out(torch.from_numpy(y)))
                self.lens.append(len(y))
        self.lens = np.asarray(self.lens, dtype=np.int64)
        self.x = torch.cat(xs).contiguous()
        self.y = torch.cat(ys).contiguous()
        self.y_start = np.concatenate([[0], np.cumsum(self.lens)[:-1]])
        self.x_start = self.y_start + 2 * pad * np.arange(len(self.lens))


class TrainStep:
    """How one front-end is trained: minibatch sampling and one update.

    Subclasses set ``pad`` (input frames of edge padding) and implement
    :meth:`batches` and :meth:`loss`; a front-end with extra networks or losses
    overrides :meth:`modules`, :meth:`make_optimizers` and :meth:`train_batch`.
    """

    pad = 0

    def __init__(self, model: FeatureMapper, conf: dict):
        self.model, self.conf = model, conf

    @classmethod
    def from_config(cls, model: FeatureMapper, conf: dict) -> TrainStep:
        """Build from the whole config (a front-end with its own config section,
        e.g. ``gan:``, reads it here); default: the ``training`` section."""
        return cls(model, conf["training"])

    @classmethod
    def check_config(cls, conf: dict, where: str = "") -> None:
        """Raise ValueError (starting with ``where``) for a config section of this
        step that cannot work; called before anything is trained or written."""

    def resolved_config(self, conf: dict) -> dict:
        """The config with every default this step uses filled in (saved as
        ``config.yaml``)."""
        return conf

    def inference_model(self) -> FeatureMapper:
        """The network evaluated on dev and saved as ``model.pt`` (a GAN: the EMA
        generator)."""
        return self.model

    def begin_epoch(self, epoch: int) -> None:
        """Called before the first batch of ``epoch`` (1-based)."""

    def end_epoch(self, epoch: int) -> dict:
        """Extra statistics of ``epoch`` for its ``history`` record."""
        return {}

    def modules(self) -> dict[str, nn.Module]:
        """Every trainable network by name (checkpointed)."""
        return {"model": self.model}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        adam = fused_optimizer(torch.optim.Adam)
        return {"model": adam(self.model.parameters(), lr=self.conf["lr"],
                              weight_decay=self.conf["weight_decay"])}  # fmt: skip

    def batches(self, data: NormalizedData, gen: torch.Generator):
        """Yield training minibatches for one epoch."""
        raise NotImplementedError

    def loss(self, batch) -> torch.Tensor:
        raise NotImplementedError

    def train_batch(self, batch, optimizers) -> dict[str, float] | None:
        """One update; returns losses (``loss`` is averaged into ``train_loss``),
        or None when the batch was skipped."""
        opt = optimizers["model"]
        opt.zero_grad(set_to_none=True)
        loss = self.loss(batch)
        loss.backward()
        ddp.average_grads(self.model.parameters())
        if self.conf["grad_clip"]:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.conf["grad_clip"])
        opt.step()
        return {"loss": loss.item()}

    # set by the Trainer while it streams a block of a large training set: that
    # block's share of the epoch's batches
    batch_budget: int | None = None

    def num_batches(self, data: NormalizedData) -> int:
        if self.batch_budget is not None:
            return self.batch_budget
        n = self.conf["frames_per_epoch"] or int(data.lens.sum())
        return max(1, n // self._frames_per_batch())

    def _frames_per_batch(self) -> int:
        return self.conf["batch_size"]


class FrameStep(TrainStep):
    """Minibatches of random frames with their context windows (``dnn``)."""

    def __init__(self, model, conf):
        super().__init__(model, conf)
        self.pad = model.context
        self.offsets = torch.arange(-model.context, model.context + 1)

    def batches(self, data, gen):
        # centre of every frame in the padded input array
        if not hasattr(data, "_centres"):
            data._centres = torch.from_numpy(np.concatenate(
                [xs + self.pad + np.arange(n) for xs, n in zip(data.x_start, data.lens)]
            ))  # fmt: skip
        n_total = len(data._centres)
        bs = self.conf["batch_size"]
        for _ in range(self.num_batches(data)):
            j = torch.randint(n_total, (bs,), generator=gen)
            idx = data._centres[j]
            xw = data.x[idx[:, None] + self.offsets].reshape(bs, -1)
            yield xw, data.y[j]

    def loss(self, batch):
        xw, y = batch
        return nn.functional.mse_loss(self.model.mlp(xw), y)


class ChunkStep(TrainStep):
    """Minibatches of fixed-length chunks of consecutive frames (``lstm``).

    Chunks start anywhere in an utterance; utterances shorter than ``chunk_len``
    are used whole, zero-padded at the end and masked out of the loss.
    """

    def _frames_per_batch(self):
        return self.conf["batch_size"] * self.conf["chunk_len"]

    def batches(self, data, gen):
        L, bs = self.conf["chunk_len"], self.conf["batch_size"]
        lens = torch.from_numpy(data.lens)
        starts = torch.from_numpy(data.y_start)
        ar = torch.arange(L)
        n_utt = len(lens)
        for _ in range(self.num_batches(data)):
            u = torch.randint(n_utt, (bs,), generator=gen)
            span = (lens[u] - L).clamp_min(0)
            off = (torch.rand(bs, generator=gen) * (span + 1)).long().clamp_max(span)
            pos = off[:, None] + ar
            mask = pos < lens[u][:, None]
            idx = starts[u][:, None] + pos.clamp_max(lens[u][:, None] - 1)
            yield data.x[idx], data.y[idx], mask

    def loss(self, batch):
        x, y, mask = batch
        z, _ = self.model.core(x)
        err = ((z - y) ** 2).mean(-1)
        return (err * mask).sum() / mask.sum()


def register_step(frontend: str, step_cls) -> None:
    """Use ``step_cls`` (a :class:`TrainStep`, or ``"module:Class"``) to train
    front-end ``frontend`` (the same as ``@register_frontend(name, step=...)``)."""
    from pipeline.enhance.models import STEP_NAMES

    STEP_NAMES[frontend] = step_cls


def step_class(frontend: str) -> type:
    """The training step of ``frontend`` (default :class:`ChunkStep`)."""
    import importlib

    from pipeline.enhance.models import STEP_NAMES, known_frontends

    known = known_frontends()
    if frontend not in known:
        raise ValueError(f"unknown frontend {frontend!r}; known: {sorted(known)}")
    cls = STEP_NAMES.get(frontend, ChunkStep)
    if isinstance(cls, str):
        module, _, name = cls.partition(":")
        cls = getattr(importlib.import_module(module), name)
    return cls


def load_config(path: str | Path, overrides: dict | None = None) -> dict:
    """Read a HyperPyYAML training config and fill defaults.

    Keys: ``frontend``, ``frontend_conf`` (model arguments), ``input_kind``
    (fbank | spectrogram), ``output_kind`` (fbank | mfcc), ``target``
    (clean | reverb), ``seed``, ``training`` (see :data:`TRAIN_DEFAULTS`).
    Raises :class:`pipeline.config.ConfigError` (a ValueError) naming the file.
    """
    from pipeline.config import load_yaml

    return normalize_config(dict(load_yaml(path, overrides)), source=path)


_INT_KEYS = ("epochs", "frames_per_epoch", "batch_size", "chunk_len", "patience")


def check_values(section: dict, defaults: dict, where: str) -> None:
    """:func:`pipeline.config.check_values` with the training section's integers."""
    from pipeline.config import check_values as check

    check(section, defaults, where, int_keys=_INT_KEYS,
          choices={"precision": ("fp32", "bf16", "auto")})


def normalize_config(conf: dict, source=None) -> dict:
    where = f"{source}: " if source else ""
    conf = dict(conf)
    conf.setdefault("input_kind", "fbank")
    conf.setdefault("output_kind", "fbank")
    conf.setdefault("target", "clean")
    conf.setdefault("seed", 0)
    conf["frontend_conf"] = dict(conf.get("frontend_conf") or {})
    unknown = set(conf.get("training") or {}) - set(TRAIN_DEFAULTS)
    if unknown:
        raise ValueError(f"{where}unknown training option(s) {sorted(unknown)}; known: "
                         f"{sorted(TRAIN_DEFAULTS)}")  # fmt: skip
    check_values(conf.get("training") or {}, TRAIN_DEFAULTS, f"{where}training")
    conf["training"] = {**TRAIN_DEFAULTS, **(conf.get("training") or {})}
    checks = {"input_kind": ("fbank", "spectrogram"), "output_kind": ("fbank", "mfcc"),
              "target": ("clean", "reverb")}  # fmt: skip
    for key, allowed in checks.items():
        if conf[key] not in allowed:
            raise ValueError(f"{where}{key} must be one of {allowed}, got {conf[key]!r}")
    if "frontend" not in conf:
        raise ValueError(f"{where}config has no 'frontend' (e.g. frontend: dnn)")
    try:
        step = step_class(conf["frontend"])
    except ValueError as e:
        raise ValueError(f"{where}{e}") from None
    step.check_config(conf, where)
    return conf


def model_payload(model: FeatureMapper, conf: dict, extra: dict | None = None) -> dict:
    """What ``model.pt`` holds: enough to rebuild the model with no config file."""
    return {
        "format_version": FORMAT_VERSION,
        "frontend": conf["frontend"],
        "frontend_conf": conf["frontend_conf"],
        "in_dim": model.in_dim,
        "out_dim": model.out_dim,
        "input_kind": conf["input_kind"],
        "output_kind": conf["output_kind"],
        "target": conf["target"],
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        **(extra or {}),
    }


@torch.no_grad()
def predict(model: FeatureMapper, inputs: list) -> list:
    """Raw (T, D) numpy inputs -> list of raw (T, 40) numpy outputs (eval mode)."""
    was = model.training
    model.eval()
    out = [y.numpy() for y in model.forward_batch([torch.from_numpy(x) for x in inputs])]
    model.train(was)
    return out


def norm_loss(outputs: list, data: ParallelSet, model: FeatureMapper) -> float:
    """Mean squared error in the normalised target domain (the training loss)."""
    std = model.out_std.numpy().astype(np.float64)
    se = sum(float((((o - t) / std) ** 2).mean(1).sum())
             for o, t in zip(outputs, data.targets))  # fmt: skip
    return se / max(1, data.num_frames)


class Trainer:
    """Trains ``conf['frontend']`` on ``train`` with ``dev`` for selection.

    Args:
        conf: a config from :func:`load_config`.
        exp_dir: experiment dir (created); an existing ``ckpt/last.pt`` is resumed.
        device: torch device string.
        progress: tqdm bar per epoch.
    """

    def __init__(self, conf: dict, exp_dir: str | Path, device: str = "cpu",
                 progress: bool = True, block_frames: int = 0):  # fmt: skip
        self.conf = normalize_config(conf)
        self.tconf = self.conf["training"]
        self.exp = Path(exp_dir)
        self.device = torch.device(device)
        self.progress = progress
        self.block_frames = block_frames  # a StreamedPairs train set: frames per block

    def fit(self, train: ParallelSet | StreamedPairs, dev: ParallelSet) -> dict:
        """Train to the epoch budget or early stop; returns ``metrics.json``.
        ``train`` in memory, or streamed from its arks in blocks of
        ``block_frames`` frames (:class:`StreamedPairs`)."""
        conf, tc = self.conf, self.tconf
        streamed = isinstance(train, StreamedPairs)
        if not train.utts or not dev.inputs:
            raise ValueError("empty training or dev set")
        main = ddp.is_main()
        if main:
            (self.exp / "ckpt").mkdir(parents=True, exist_ok=True)
        seed = int(conf["seed"])
        torch.manual_seed(seed)
        first = train.load([0]) if streamed else train
        in_dim, out_dim = first.inputs[0].shape[1], first.targets[0].shape[1]
        model = build_model(conf["frontend"], in_dim, out_dim, conf["frontend_conf"])
        if streamed:  # one pass over the arks
            model.set_normalization(*train.stats())
        else:
            allx = np.concatenate(train.inputs).astype(np.float64)
            ally = np.concatenate(train.targets).astype(np.float64)
            model.set_normalization(allx.mean(0), allx.std(0), ally.mean(0), ally.std(0))
            del allx, ally
        step = step_class(conf["frontend"]).from_config(model, conf)
        if main:
            _write_config(self.exp / "config.yaml", step.resolved_config(conf))
        infer = step.inference_model()
        data = train if streamed else NormalizedData(train, model, step.pad)
        optimizers = step.make_optimizers()
        state = {"epoch": 0, "best_loss": float("inf"), "best_epoch": 0, "bad": 0,
                 "history": [], "lr": tc["lr"]}  # fmt: skip
        last = self.exp / LAST_CKPT
        if last.is_file():
            ck = torch.load(last, map_location="cpu", weights_only=False)
            for name, m in step.modules().items():
                m.load_state_dict(ck["modules"][name])
            for name, o in optimizers.items():
                o.load_state_dict(ck["optimizers"][name])
            state = ck["state"]
            logger.info("resuming %s from epoch %d", self.exp, state["epoch"])
        for m in step.modules().values():
            m.to(self.device)
        if not streamed:
            data.x, data.y = data.x.to(self.device), data.y.to(self.device)
        if hasattr(step, "offsets"):
            step.offsets = step.offsets.to(self.device)

        precision = resolve_precision(tc["precision"], str(self.device))
        if main and tc["precision"] != "fp32":
            logger.info("%s: training precision %s (%s)", conf["frontend"], precision,
                        tc["precision"])  # fmt: skip
        t_start = time.time()
        while state["epoch"] < tc["epochs"] and state["bad"] < tc["patience"]:
            epoch = state["epoch"] + 1
            torch.manual_seed(seed * 1000 + epoch)  # dropout etc.: exact resume
            gen = torch.Generator().manual_seed(seed * 1000 + epoch)
            for o in optimizers.values():
                for g in o.param_groups:  # lr_scale: e.g. a GAN's discriminator
                    g["lr"] = state["lr"] * g.get("lr_scale", 1.0)
            for m in step.modules().values():
                m.train()
            step.begin_epoch(epoch)
            t0 = time.time()
            tot, n = 0.0, 0
            batches = (self._streamed_batches(step, train, model, gen) if streamed
                       else step.batches(data, gen))
            bar = tqdm(batches, total=step.num_batches(data),
                       desc=f"{conf['frontend']} epoch {epoch}", unit="batch",
                       disable=not (self.progress and main), leave=False)  # fmt: skip
            for batch in bar:
                batch = ddp.shard(batch)  # this rank's share of the global batch
                if self.device.type != "cpu":
                    batch = tuple(b.to(self.device, non_blocking=True) for b in batch)
                with torch.autocast(self.device.type, dtype=torch.bfloat16,
                                    enabled=precision == "bf16"):  # fmt: skip
                    losses = step.train_batch(batch, optimizers)
                if losses is None:
                    continue
                tot += losses["loss"]
                n += 1
                if n % 50 == 0:
                    bar.set_postfix(loss=f"{tot / n:.4f}")
            tot, n = ddp.sum_floats(tot, n)  # over the ranks' shards
            dev_loss = ddp.on_main(self._dev_loss, infer, dev)  # one decision for all
            rec = {"epoch": epoch, "train_loss": round(tot / max(n, 1), 5),
                   "dev_loss": round(dev_loss, 5), "lr": state["lr"],
                   "seconds": round(time.time() - t0, 1),
                   **step.end_epoch(epoch)}  # fmt: skip
            state["history"].append(rec)
            (logger.info if main else logger.debug)(
                        "%s epoch %d: train %.4f dev %.4f (lr %.2g, %.1f s)",
                        conf["frontend"], epoch, rec["train_loss"], dev_loss,
                        state["lr"], rec["seconds"])  # fmt: skip
            if dev_loss < state["best_loss"]:
                state.update(best_loss=dev_loss, best_epoch=epoch, bad=0)
                if main:
                    infer.to("cpu")
                    _write_atomic(self.exp / MODEL_FILE, model_payload(
                        infer, conf, {"epoch": epoch, "dev_loss": dev_loss}))  # fmt: skip
                    infer.to(self.device)
            else:
                state["bad"] += 1
                state["lr"] *= tc["lr_decay"]
            state["epoch"] = epoch
            if not main:
                continue
            _write_atomic(last, {
                "modules": {k: {n: v.detach().cpu().clone()
                                for n, v in m.state_dict().items()}
                            for k, m in step.modules().items()},
                "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                "state": state,
            })  # fmt: skip

        ddp.barrier()
        return ddp.on_main(self._finish, infer, train, dev, state, t_start)

    def _streamed_batches(self, step: TrainStep, train: StreamedPairs,
                          model: FeatureMapper, gen: torch.Generator):
        """One epoch of a streamed training set: the utterances in a random order,
        cut into blocks of ``block_frames`` frames; each block is read from the
        arks, normalised and sampled for its share of the epoch's batches."""
        total = step.num_batches(train)
        order = torch.randperm(len(train.utts), generator=gen).numpy()
        blocks = train.blocks(order, self.block_frames)
        done, frames = 0, 0
        for b in blocks:
            part = NormalizedData(train.load(b), model, step.pad)
            part.x, part.y = part.x.to(self.device), part.y.to(self.device)
            frames += int(part.lens.sum())
            # batches so far proportional to frames so far: the epoch's total exactly
            upto = round(total * frames / train.num_frames)
            step.batch_budget = upto - done
            if step.batch_budget > 0:
                yield from step.batches(part, gen)
            done = upto
            del part
        step.batch_budget = None

    def _dev_loss(self, infer: FeatureMapper, dev: ParallelSet) -> float:
        infer.to("cpu")
        dev_out = predict(infer, dev.inputs)
        infer.to(self.device)
        return norm_loss(dev_out, dev, infer)

    def _finish(self, infer, train, dev, state, t_start) -> dict:
        """Dev metrics of the best model -> metrics.json, train.done (rank 0)."""
        conf = self.conf
        best = torch.load(self.exp / MODEL_FILE, map_location="cpu", weights_only=False)
        model = infer.to("cpu")
        model.load_state_dict(best["state_dict"])
        metrics = {
            "frontend": conf["frontend"],
            "target": conf["target"],
            "input_kind": conf["input_kind"],
            "best_epoch": state["best_epoch"],
            "train_frames": train.num_frames,
            "train_seconds_this_run": round(time.time() - t_start, 1),
            "history": state["history"],
            "dev": grouped_metrics(predict(model, dev.inputs), dev),
        }
        update_metrics(self.exp, metrics)
        mark_done(self.exp)
        return metrics


def update_metrics(exp: Path, new: dict, eval_name: str | None = None) -> dict:
    """Merge into ``exp/metrics.json`` (written atomically): top-level keys from a
    training run, or ``eval[eval_name]`` from an evaluation."""
    path = Path(exp) / "metrics.json"
    cur = json.loads(path.read_text()) if path.is_file() else {}
    if eval_name is None:
        evals = cur.get("eval", {})
        cur = {**new, "eval": evals}
    else:
        cur.setdefault("eval", {})[eval_name] = new
    atomic_text(path, json.dumps(cur, indent=1) + "\n")
    return cur


def train_enhancer(config, noisy, clean, dev_noisy, dev_clean, exp_dir,
                   device="cpu", seed=None, progress=True, source=None,
                   stream_above: int = STREAM_ABOVE_FRAMES,
                   block_frames: int = STREAM_BLOCK_FRAMES) -> dict:  # fmt: skip
    """Load parallel data and train (the ``train-enhancer`` verb).

    Args:
        config: path of a HyperPyYAML config, or a dict.
        noisy, clean: lists of data dirs; ``noisy[i]`` pairs with ``clean[i]``
            (one clean dir is paired with every noisy dir, MCT style).
        dev_noisy, dev_clean: the same for the dev set.
        seed: overrides the config's seed.
        source: the config file ``config`` was loaded from, when it is a dict
            (copied to ``config.source.yaml``).
        stream_above: a training set of more frames (fbank inputs) is streamed
            from its arks in shuffled blocks of ``block_frames`` frames: memory
            stays one block whatever its size (0: always stream).
    """
    device = ddp.init(device)  # torchrun: join the process group (no-op otherwise)
    conf = load_config(config) if not isinstance(config, dict) else dict(config)
    conf = normalize_config(conf)
    if seed is not None:
        conf["seed"] = int(seed)
    exp = Path(exp_dir)
    exp.mkdir(parents=True, exist_ok=True)
    if (source is not None or not isinstance(config, dict)) and ddp.is_main():
        shutil.copyfile(source or config, exp / "config.source.yaml")
    train = None
    if conf["input_kind"] == "fbank":
        try:
            index = StreamedPairs.from_dirs(*_pair_lists(noisy, clean))
        except DataDirError:  # reported with its file by the in-memory path
            index = None
        if index is not None and index.num_frames > stream_above:
            train = index
            logger.info("train: %d frames > %d: streamed from the arks in blocks of "
                        "%d frames", train.num_frames, stream_above, block_frames)  # fmt: skip
    if train is None:
        train = pairs(noisy, clean, conf["input_kind"])
    dev = pairs(dev_noisy, dev_clean, conf["input_kind"])
    logger.info("train: %d utterances, %d frames; dev: %d utterances",
                len(train.utts), train.num_frames, len(dev.utts))  # fmt: skip
    return Trainer(conf, exp, device=device, progress=progress,
                   block_frames=block_frames).fit(train, dev)


def _pair_lists(noisy, clean) -> tuple[list, list]:
    """Matching lists of dirs (``clean`` may be one dir, paired with each)."""
    noisy, clean = list(noisy), list(clean)
    if len(clean) == 1:
        clean = clean * len(noisy)
    if len(clean) != len(noisy):
        raise ValueError(f"{len(noisy)} noisy dirs but {len(clean)} clean dirs: give "
                         "one clean dir, or one per noisy dir")  # fmt: skip
    return noisy, clean


def pairs(noisy, clean, input_kind="fbank") -> ParallelSet:
    """A :class:`ParallelSet` from matching lists of dirs (``clean`` may be one)."""
    noisy, clean = _pair_lists(noisy, clean)
    s = ParallelSet()
    for n, c in zip(noisy, clean):
        s.add_pair(n, c, input_kind)
    return s
