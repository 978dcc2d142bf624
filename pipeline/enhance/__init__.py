"""Feature-domain enhancement front-ends: models (:mod:`.models`), training on
parallel data (:mod:`.train`), inference (:class:`FeatureEnhancer`, :mod:`.enhancer`).

Imported lazily so ``python -m pipeline --help`` stays fast.
"""

from pipeline import lazy_getattr

__all__ = ["FeatureEnhancer", "EnhancerError", "train_enhancer"]

__getattr__ = lazy_getattr(__name__, {
    "FeatureEnhancer": "pipeline.enhance.enhancer",
    "EnhancerError": "pipeline.enhance.enhancer",
    "train_enhancer": "pipeline.enhance.train",
})
