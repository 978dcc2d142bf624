"""SpeechBrain acoustic models (CTC), decoding and the GRID grammar.

Heavy modules (torch, speechbrain) are imported by :mod:`pipeline.asr.train` and
:mod:`pipeline.asr.decode` only, so ``import pipeline.asr`` stays light.
"""
