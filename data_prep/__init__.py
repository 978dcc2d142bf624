"""Corpus preparation: ``prepare_<corpus>(...)`` functions that write Kaldi data dirs
(lhotse style). The embedded default corpus is :mod:`data_prep.simgrid`."""
