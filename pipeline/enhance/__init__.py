"""Feature-domain enhancement front-ends: models (:mod:`.models`), training on
parallel data (:mod:`.train`), inference (:class:`FeatureEnhancer`, :mod:`.enhancer`).

Imported lazily so ``python -m pipeline --help`` stays fast.
"""

from pipeline import lazy_getattr

__all__ = ["FeatureEnhancer", "EnhancerError", "train_enhancer"]

# train-enhancer streams a training set of more frames from its arks in shuffled
# blocks instead of loading it: in memory, 20M frames of 40-d inputs and targets
# take ~6.4 GB, and twice that while the statistics are computed
STREAM_ABOVE_FRAMES = 20_000_000
STREAM_BLOCK_FRAMES = 2_000_000

__getattr__ = lazy_getattr(__name__, {
    "FeatureEnhancer": "pipeline.enhance.enhancer",
    "EnhancerError": "pipeline.enhance.enhancer",
    "train_enhancer": "pipeline.enhance.train",
})
