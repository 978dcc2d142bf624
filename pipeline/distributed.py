"""Data-parallel training with ``torch.distributed``, launched by ``torchrun``.

``torchrun --nproc_per_node N -m pipeline train-am|train-enhancer ...`` starts N
processes with ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE`` and the rendezvous
address in their environment; :func:`init` joins them into one process group
(``nccl`` on GPUs, ``gloo`` on CPUs). Without torchrun every function here is a
no-op and the trainers run as one process, as before.

The conventions both trainers follow: rank 0 alone decides whether to skip,
resume or refuse (:func:`pipeline.stamp.skip_or_refuse` runs through :func:`on_main`) and alone writes files (checkpoints, logs,
``model.pt``, ``am.json``, ``train.done``); every rank reads the same data and
starts from the same seed, so the models stay identical after each all-reduced
update. The acoustic model is wrapped in DDP by SpeechBrain's ``Brain`` (which
also shards its dynamic batch sampler per rank); the front-end
:class:`pipeline.enhance.train.Trainer` shards each global minibatch
(:func:`shard`) and averages gradients with :func:`average_grads`.
"""

from __future__ import annotations

import atexit
import datetime
import os

import torch
import torch.distributed as dist


def launched() -> bool:
    """True in a process started by torchrun (or any launcher that sets ``RANK``
    and ``LOCAL_RANK``, as SpeechBrain assumes)."""
    return os.environ.get("RANK") is not None and os.environ.get("LOCAL_RANK") is not None


def init(device: str = "cpu") -> str:
    """Join the process group when launched by torchrun (once); returns the device
    this process trains on (``cuda:<LOCAL_RANK>`` for ``cuda``)."""
    if not launched():
        return device
    local = int(os.environ["LOCAL_RANK"])
    if device.startswith("cuda"):
        if local >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local}: only {torch.cuda.device_count()} "
                               "GPUs visible (one process per GPU)")  # fmt: skip
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo",
                                timeout=datetime.timedelta(hours=2))  # fmt: skip
        # a process that exits still in the group aborts ("terminate called without
        # an active exception"): leave it on any exit, errors included (no barrier
        # here: the other ranks may be gone); normal ends call destroy() first
        atexit.register(_leave)
    return device


def _leave() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def on_main(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` on rank 0 only; every rank returns its result (a
    picklable value), after rank 0 has finished it."""
    if world_size() == 1:
        return fn(*args, **kwargs)
    box = [fn(*args, **kwargs) if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard(batch: tuple) -> tuple:
    """This rank's equal share (along dim 0) of every tensor of a global minibatch;
    the ranks' shards concatenated in rank order are the whole batch."""
    n = world_size()
    if n == 1:
        return batch
    size = batch[0].shape[0]
    if size % n:
        raise ValueError(f"a minibatch of {size} does not split over {n} processes: "
                         "make the batch size a multiple of the number of processes")
    k = size // n
    r = rank()
    return tuple(b[r * k:(r + 1) * k] for b in batch)


def average_grads(params) -> None:
    """Average the gradients of ``params`` over the ranks (one all-reduce of one
    flat buffer per dtype); call between ``backward()`` and clipping / the
    optimizer step. Parameters without a gradient take part as zeros."""
    n = world_size()
    if n == 1:
        return
    params = [p for p in params if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    for dtype in {p.grad.dtype for p in params}:
        grads = [p.grad for p in params if p.grad.dtype == dtype]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= n
        off = 0
        for g in grads:
            g.copy_(flat[off:off + g.numel()].view_as(g))
            off += g.numel()


def all_true(flag: bool) -> bool:
    """True when ``flag`` holds on every rank (so that all ranks skip an update
    together instead of one waiting for the others' gradients)."""
    if world_size() == 1:
        return bool(flag)
    return int(_all_reduce_sum([0 if flag else 1], torch.int32)[0]) == 0


def sum_floats(*values: float) -> list[float]:
    """Element-wise sums of ``values`` over the ranks."""
    if world_size() == 1:
        return [float(v) for v in values]
    return [float(v) for v in _all_reduce_sum(values, torch.float64)]


def _all_reduce_sum(values, dtype) -> torch.Tensor:
    """Element-wise sums over the ranks (on the GPU for nccl), on the CPU."""
    t = torch.tensor(values, dtype=dtype)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return t.cpu()


def destroy() -> None:
    """Leave the process group at the end of a run: a barrier first, so that no
    rank tears its connections down while another still has a message in
    flight (gloo then aborts the other: "terminate called without an active
    exception")."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
