"""Feature-domain enhancement front-ends: models (:mod:`.models`), training on
parallel data (:mod:`.train`), inference (:class:`FeatureEnhancer`, :mod:`.enhancer`).

Imported lazily so ``python -m pipeline --help`` stays fast.
"""

__all__ = ["FeatureEnhancer", "EnhancerError", "train_enhancer"]

_LAZY = {
    "FeatureEnhancer": "pipeline.enhance.enhancer",
    "EnhancerError": "pipeline.enhance.enhancer",
    "train_enhancer": "pipeline.enhance.train",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pipeline.enhance' has no attribute {name!r}")
