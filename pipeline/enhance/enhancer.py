"""Inference with a trained feature-mapping front-end (contract:
``FeatureEnhancer.load(exp_dir).enhance(feats)``).

>>> enh = FeatureEnhancer.load("exp/enhance/dnn")
>>> clean_like = enh.enhance(noisy_fbank)        # (T, 40) -> (T, 40) log-mel
>>> s = enh.stream(); out = [s.push(c) for c in chunks] + [s.flush()]
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from pipeline.datadir import DataDir, DataDirError
from pipeline.enhance.models import DNNMapper, FeatureMapper, LSTMMapper, build_model
from pipeline.enhance.train import MODEL_FILE

logger = logging.getLogger(__name__)

OUTPUT_KINDS = ("fbank", "mfcc")
ENHANCE_INFO = "enhance_info.json"
ENHANCE_GROUP = 256  # utterances read, enhanced as batches and written per step


class EnhancerError(Exception):
    """A model dir is missing/invalid, or features do not fit the model."""


class FeatureEnhancer:
    """A trained front-end: raw noisy features -> raw enhanced features.

    Attributes:
        model: the :class:`FeatureMapper` (eval mode, BatchNorm folded).
        input_kind: ``fbank`` (40-d log-mel) or ``spectrogram`` (257-d log power).
        output_kind: ``fbank`` (40-d log-mel) or ``mfcc`` (13 cepstra, DCT of the
            enhanced log-mel by :func:`pipeline.features.fbank_to_mfcc`).
        precision: ``fp32`` (default) or ``bf16`` (``auto``: bf16 where the CPU has
            avx512_bf16 / AMX, :func:`pipeline.config.resolve_precision`): the
            offline paths (:meth:`enhance`, :meth:`enhance_batch`,
            :meth:`enhance_datadir`) run under bf16 autocast, as the recipes'
            front-ends train, at about twice the speed of fp32 on such a CPU (the
            outputs differ from fp32's by about 0.01 in natural-log mel on the
            default corpus); streams stay in fp32.
    """

    def __init__(self, model: FeatureMapper, info: dict, device="cpu",
                 model_dir: Path | None = None, precision: str = "fp32"):  # fmt: skip
        from pipeline.config import INFERENCE_PRECISIONS, resolve_precision

        if precision not in INFERENCE_PRECISIONS:
            raise ValueError(f"precision must be one of {INFERENCE_PRECISIONS}, "
                             f"not {precision!r}")  # fmt: skip
        self.model = model.eval().fold_batchnorm().to(device)
        self.info = info
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, str(device))
        self.input_kind = info.get("input_kind", "fbank")
        self.output_kind = info.get("output_kind", "fbank")
        self.model_dir = model_dir

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "cpu",
             precision: str = "fp32") -> FeatureEnhancer:  # fmt: skip
        """Load ``model_dir/model.pt`` (written by ``train-enhancer``)."""
        path = Path(model_dir) / MODEL_FILE
        if not path.is_file():
            raise EnhancerError(f"{path}: no front-end model (train-enhancer writes it)")
        info = torch.load(path, map_location="cpu", weights_only=False)
        model = build_model(info["frontend"], info["in_dim"], info["out_dim"],
                            info["frontend_conf"])  # fmt: skip
        model.load_state_dict(info.pop("state_dict"))
        return cls(model, info, device, Path(model_dir), precision)

    def _forward_batch(self, xs: list) -> list:
        """The model on a batch, under bf16 autocast when asked; float32 outputs."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16,
                            enabled=self.precision == "bf16"):  # fmt: skip
            return [y.float() for y in self.model.forward_batch(xs)]

    # ------------------------------------------------------------- offline
    def _check(self, x) -> torch.Tensor:
        was_numpy = not isinstance(x, torch.Tensor)
        if was_numpy:
            x = np.asarray(x)
            if not x.flags.writeable:  # kaldiio's matrices are read-only views
                x = x.copy()  # (torch warns on sharing them)
        t = torch.as_tensor(x, dtype=torch.float32)
        if t.ndim != 2:
            raise EnhancerError(f"expected (T, D) features, got shape {tuple(t.shape)}")
        if t.shape[1] != self.model.in_dim:
            raise EnhancerError(
                f"features have dim {t.shape[1]}, the {self.info['frontend']} model "
                f"expects {self.model.in_dim} ({self.input_kind} input)"
            )
        return t

    def _out(self, y: torch.Tensor, kind: str | None, like):
        kind = kind or self.output_kind
        if kind not in OUTPUT_KINDS:
            raise ValueError(f"output kind must be one of {OUTPUT_KINDS}, not {kind!r}")
        if kind == "mfcc":
            from pipeline.features import fbank_to_mfcc

            m = fbank_to_mfcc(y.cpu().numpy())
            return m if not isinstance(like, torch.Tensor) else torch.from_numpy(m)
        return y.cpu().numpy() if not isinstance(like, torch.Tensor) else y

    @torch.no_grad()
    def enhance(self, feats, kind: str | None = None):
        """feats: (T, in_dim) raw noisy features (numpy or torch) -> (T, 40) raw
        enhanced log-mel (or (T, 13) MFCC with ``kind="mfcc"``), same array type."""
        x = self._check(feats).to(self.device)
        y = self._forward_batch([x])[0]
        return self._out(y, kind, feats)

    @torch.no_grad()
    def enhance_batch(self, feats_list: list, kind: str | None = None) -> list:
        """Several utterances at once (:meth:`FeatureMapper.forward_batch`: the DNN
        as a few large matmuls per layer, a causal LSTM as padded batches); each
        output equals :meth:`enhance` of that utterance to float rounding."""
        xs = [self._check(f).to(self.device) for f in feats_list]
        ys = self._forward_batch(xs)
        return [self._out(y, kind, f) for y, f in zip(ys, feats_list)]

    def input_features(self, wav, sr: int) -> np.ndarray:
        """The model's input features of a waveform (see :mod:`pipeline.features`)."""
        from pipeline.features import compute_fbank, compute_log_spectrogram

        if self.input_kind == "spectrogram":
            return compute_log_spectrogram(wav, sr)
        return compute_fbank(wav, sr)

    def enhance_wav(self, wav, sr: int, kind: str | None = None) -> np.ndarray:
        """wav: (N,) float in [-1, 1] (or int16) at ``sr`` Hz -> (T, 40) enhanced
        log-mel (100 frames/s)."""
        return self.enhance(self.input_features(wav, sr), kind)

    # ----------------------------------------------------------- streaming
    def stream(self, kind: str | None = None) -> EnhancerStream:
        """A streaming session; see :class:`EnhancerStream`.

        Raises:
            EnhancerError: the model is not causal (bidirectional LSTM).
        """
        if not self.model.causal and not isinstance(self.model, DNNMapper):
            raise EnhancerError(
                f"the {self.info['frontend']} model is bidirectional (not causal) and "
                "cannot stream; train a uni-directional one (bidirectional: false)"
            )
        return EnhancerStream(self, kind)

    def streams(self, n: int, kind: str | None = None) -> EnhancerStreams:
        """``n`` streaming sessions advanced together (a server's concurrent
        streams); see :class:`EnhancerStreams`."""
        self.stream(kind)  # the same check
        return EnhancerStreams(self, n, kind)

    # ----------------------------------------------------------- data dirs
    def model_id(self) -> str:
        """Content hash of ``model.pt`` (recorded in enhanced data dirs)."""
        if self.model_dir is None:
            return "memory"
        h = hashlib.sha1((self.model_dir / MODEL_FILE).read_bytes()).hexdigest()
        return h[:16]

    def _stamp(self, in_dir, kind: str) -> dict:
        from pipeline.stamp import dir_fingerprint

        stamp = {"model": str(self.model_dir), "model_id": self.model_id(), "kind": kind,
                 "in_dir": str(Path(in_dir).resolve()),
                 "in_feats": dir_fingerprint(in_dir)}  # fmt: skip
        if self.precision != "fp32":  # (fp32 outputs keep their earlier stamps)
            stamp["precision"] = self.precision
        return stamp

    def is_enhanced(self, in_dir, out_dir, kind: str | None = None) -> bool:
        """Whether ``out_dir`` holds complete features of ``kind`` made by this
        model from ``in_dir`` as it is now."""
        from pipeline.make_feats import has_feats

        kind = kind or self.output_kind
        info = Path(out_dir) / ENHANCE_INFO
        if not info.is_file():
            return False
        try:
            return (json.loads(info.read_text()) == self._stamp(in_dir, kind)
                    and has_feats(DataDir.load(out_dir), kind))  # fmt: skip
        except (DataDirError, ValueError):
            return False

    def enhance_datadir(self, in_dir, out_dir, kind: str | None = None,
                        force: bool = False, progress: bool = False) -> DataDir:  # fmt: skip
        """Write ``out_dir``: a copy of data dir ``in_dir`` whose ``feats.scp``
        holds enhanced features, with ``utt2num_frames``, per-speaker ``cmvn.scp``,
        ``cmvn_global.ark`` and ``feats_type`` recomputed as ``make-feats`` does.

        Arks go to ``out_dir/data/`` and are written atomically (temp + rename, a
        fresh token per run, old arks deleted last). A complete output made by the
        same model and kind is kept unless ``force``.
        """
        from tqdm import tqdm

        from pipeline.enhance.data import load_feats
        from pipeline.make_feats import FeatsWriter

        kind = kind or self.output_kind
        out_dir = Path(out_dir).resolve()
        if not force and self.is_enhanced(in_dir, out_dir, kind):
            logger.info("enhance: %s is complete (force to redo)", out_dir)
            return DataDir.load(out_dir)
        stamp = self._stamp(in_dir, kind)
        d, feats = load_feats(in_dir, self.input_kind)
        if not feats:
            raise DataDirError("no utterances to enhance", path=in_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / ENHANCE_INFO).unlink(missing_ok=True)
        writer = FeatsWriter(out_dir, kind, prefix="enh")
        try:
            bar = tqdm(total=len(d.utts), desc=f"enhance {out_dir.name}", unit="utt",
                       disable=not progress, leave=False)  # fmt: skip
            for k in range(0, len(d.utts), ENHANCE_GROUP):  # batched, in scp order
                utts = d.utts[k:k + ENHANCE_GROUP]
                for utt, y in zip(utts, self.enhance_batch([feats[u] for u in utts], kind)):
                    if not np.isfinite(y).all():
                        raise EnhancerError(
                            f"{self.model_dir}: the model output "
                            f"{int((~np.isfinite(y)).sum())} non-finite values for "
                            f"utterance {utt} of {in_dir}; nothing was written to "
                            f"{out_dir}")  # fmt: skip
                    writer.add(utt, d.utt2spk[utt], y)
                bar.update(len(utts))
            bar.close()
            out = DataDir(channel=d.channel)
            out.tables = {k: dict(v) for k, v in d.tables.items()}
            out = writer.commit(out)
        finally:
            writer.close()
        (out_dir / ENHANCE_INFO).write_text(json.dumps(stamp, indent=1) + "\n")
        logger.info("enhance %s -> %s: %d utterances (%s)", in_dir, out_dir,
                    len(out), kind)  # fmt: skip
        return out


class EnhancerStream:
    """Chunk-by-chunk enhancement; the concatenated outputs of :meth:`push` and
    :meth:`flush` equal :meth:`FeatureEnhancer.enhance` of the whole input.

    - causal LSTM: every pushed frame comes straight out (LSTM state carried);
    - DNN: latency is its right context (``context`` frames): a push returns the
      frames whose right context has arrived; :meth:`flush` pads the end as the
      offline path does (replicated last frame) and returns the rest.
    """

    def __init__(self, enhancer: FeatureEnhancer, kind: str | None = None):
        self.enh, self.kind = enhancer, kind
        self.model = enhancer.model
        self.state = None
        self.buf: torch.Tensor | None = None  # DNN: normalised frames not yet used
        self.is_dnn = isinstance(self.model, DNNMapper)
        self._like = np.zeros(0)  # flush returns the array type pushed last

    @property
    def latency_frames(self) -> int:
        return self.model.context if self.is_dnn else 0

    @torch.no_grad()
    def push(self, chunk):
        """chunk: (n, in_dim) raw features -> (m, 40) enhanced frames (m may be 0)."""
        x = self.enh._check(chunk).to(self.enh.device)
        m = self.model
        self._like = chunk
        if len(x) == 0:
            return self.enh._out(x.new_zeros(0, m.out_dim), self.kind, chunk)
        xn = m.normalize_in(x)
        if not self.is_dnn:
            z, self.state = m.core(xn[None], self.state)
            return self.enh._out(m.denormalize_out(z[0]), self.kind, chunk)
        c = m.context
        if self.buf is None:
            self.buf = xn[:1].expand(c, -1)
        self.buf = torch.cat([self.buf, xn])
        return self.enh._out(self._dnn_ready(), self.kind, chunk)

    def _dnn_ready(self) -> torch.Tensor:
        m = self.model
        n_ready = len(self.buf) - 2 * m.context
        if n_ready <= 0:
            return self.buf.new_zeros(0, m.out_dim)
        y = m.denormalize_out(m.mlp(m.windows(self.buf[None])[0]))
        self.buf = self.buf[n_ready:]
        return y

    @torch.no_grad()
    def flush(self):
        """End of input: the remaining frames (DNN: its last ``context``), and
        reset for a new utterance."""
        m = self.model
        y = None
        if self.is_dnn and self.buf is not None:
            self.buf = torch.cat([self.buf, self.buf[-1:].expand(m.context, -1)])
            y = self._dnn_ready()
        if y is None:
            y = torch.zeros(0, m.out_dim)
        self.buf, self.state = None, None
        return self.enh._out(y, self.kind, self._like)


class EnhancerStreams:
    """``n`` concurrent streaming sessions: each :meth:`push` takes one chunk per
    stream and returns one output per stream, what that stream's own
    :class:`EnhancerStream` would return (to float rounding).

    A causal LSTM keeps the states of all streams as one batch and runs the
    streams whose chunks have the same length together (one matmul per layer and
    frame for all of them instead of one matrix-vector product each), which is
    where a single stream loses its speed (``benchmarks/enhance.py``). Other
    front-ends (the DNN) run one :class:`EnhancerStream` per stream.
    """

    def __init__(self, enhancer: FeatureEnhancer, n: int, kind: str | None = None):
        if n < 1:
            raise ValueError(f"need at least one stream, got {n}")
        self.enh, self.kind, self.n = enhancer, kind, int(n)
        self.model = enhancer.model
        self.batched = isinstance(self.model, LSTMMapper) and self.model.causal
        self.single = None if self.batched else [EnhancerStream(enhancer, kind)
                                                 for _ in range(self.n)]  # fmt: skip
        self._like: list = [np.zeros(0)] * self.n
        if self.batched:  # per layer (h, c) of all streams: zeros = a fresh stream
            dev = enhancer.device
            self.state = [(torch.zeros(1, self.n, r.proj_size or r.hidden_size, device=dev),
                           torch.zeros(1, self.n, r.hidden_size, device=dev))
                          for r in self.model.rnns]  # fmt: skip

    @property
    def latency_frames(self) -> int:
        return 0 if self.batched else self.single[0].latency_frames

    @torch.no_grad()
    def push(self, chunks: list) -> list:
        """chunks: one ``(n_i, in_dim)`` chunk per stream (``n_i`` may be 0) ->
        one output per stream, of the type of its chunk."""
        if len(chunks) != self.n:
            raise EnhancerError(f"push needs one chunk per stream ({self.n}), got "
                                f"{len(chunks)}")  # fmt: skip
        if not self.batched:
            return [s.push(c) for s, c in zip(self.single, chunks)]
        m, enh = self.model, self.enh
        xs = [enh._check(c).to(enh.device) for c in chunks]
        self._like = list(chunks)
        out: list = [None] * self.n
        groups: dict[int, list[int]] = {}
        for i, x in enumerate(xs):
            groups.setdefault(len(x), []).append(i)
        for length, idx in groups.items():
            if length == 0:
                for i in idx:
                    out[i] = enh._out(xs[i].new_zeros(0, m.out_dim), self.kind, chunks[i])
                continue
            every = len(idx) == self.n
            sel = None if every else torch.tensor(idx, device=enh.device)
            state = self.state if every else [(h.index_select(1, sel), c.index_select(1, sel))
                                              for h, c in self.state]  # fmt: skip
            x = torch.stack([xs[i] for i in idx])
            z, new = m.core(m.normalize_in(x), state)
            if every:
                self.state = list(new)
            else:
                for (h, c), (nh, nc) in zip(self.state, new):
                    h.index_copy_(1, sel, nh)
                    c.index_copy_(1, sel, nc)
            y = m.denormalize_out(z)
            for b, i in enumerate(idx):
                out[i] = enh._out(y[b], self.kind, chunks[i])
        return out

    @torch.no_grad()
    def flush(self, i: int | None = None) -> list:
        """End of input of stream ``i`` (every stream when None): its remaining
        frames (a DNN's last ``context``; none for an LSTM), and that stream starts
        over. Returns one output per flushed stream."""
        which = range(self.n) if i is None else [i]
        if not self.batched:
            return [self.single[k].flush() for k in which]
        for h, c in self.state:
            h[:, list(which)] = 0
            c[:, list(which)] = 0
        return [self.enh._out(torch.zeros(0, self.model.out_dim), self.kind, self._like[k])
                for k in which]  # fmt: skip
