"""SpeechBrain acoustic models (CTC), decoding and the GRID grammar.

Heavy modules (torch, speechbrain) are imported by :mod:`pipeline.asr.train` and
:mod:`pipeline.asr.decode` only, so ``import pipeline.asr`` stays light.
"""

from pathlib import Path

# the default config, and what train-am writes in a model dir (--force removes
# them); here, not in pipeline.asr.train, so a skipped run never loads SpeechBrain
DEFAULT_CONFIG = Path(__file__).parent / "hparams" / "am_default.yaml"
AM_OUTPUTS = ("save", "am.json", "hparams.yaml", "tokens.txt", "cmvn_global.ark",
              "train_log.txt")  # fmt: skip
