"""Robust-ASR pipeline: Kaldi data dirs, Kaldi-compatible features, enhancement
front-ends, SpeechBrain acoustic models and scoring.

Public API (contract, see DESIGN.md)::

    from pipeline import DataDir, compute_fbank
    DataDir.load("data/test_noisy").validate()
    feats = compute_fbank(wav, 16000)          # (T, 40) float32 log-mel

Heavy modules are imported on first use, so ``import pipeline`` stays fast.
"""

from pipeline.datadir import DataDir, DataDirError

__all__ = [
    "DataDir", "DataDirError", "compute_fbank", "compute_mfcc", "fbank_to_mfcc",
    "compute_features", "read_audio", "make_feats", "FeatureEnhancer",
]  # fmt: skip

_LAZY = {
    "compute_fbank": "pipeline.features",
    "compute_mfcc": "pipeline.features",
    "fbank_to_mfcc": "pipeline.features",
    "compute_features": "pipeline.features",
    "read_audio": "pipeline.audio",
    "make_feats": "pipeline.make_feats",
    "FeatureEnhancer": "pipeline.enhance.enhancer",
}


def lazy_getattr(package: str, table: dict[str, str]):
    """A module ``__getattr__`` (PEP 562) that imports ``table[name]`` on first use
    of ``name``: how ``pipeline`` and its subpackages keep imports cheap."""

    def __getattr__(name):
        if name in table:
            import importlib

            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


__getattr__ = lazy_getattr(__name__, _LAZY)
