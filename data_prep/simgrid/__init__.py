"""simgrid: the embedded default corpus, a CHiME-2 Track 1-style simulation.

GRID-grammar sentences ("bin blue at f two now", Cooke et al. 2006) are spoken
by 24 synthetic espeak-ng talkers, the same ones in train, dev and test (a
closed speaker set, as CHiME-2 Track 1's 34 GRID talkers; no talker says a
sentence twice), reverberated with image-method RIRs (pyroomacoustics; T60
0.2-0.9 s, talker 1-4 m from the microphone; disjoint room pools per split) and
mixed with noise from another position in the same room: babble of 16 held-out
talkers saying random English words, stationary coloured noise (optionally with
hum) or transient noise (knocks, clicks, bursts, beeps). As in CHiME-2 (Vincent et al.
2013) the SNR, one of -6, -3, 0, 3, 6, 9 dB, is measured against the
reverberant speech over the whole utterance. The RIRs are aligned and scaled so
their direct path is at lag 0 with gain 1: "clean" is the direct-path (dry)
speech and is sample-aligned with "reverb" and "noisy".

Output (``prepare_simgrid``): Kaldi data dirs ``{train,dev,test}_{clean,reverb,
noisy}`` (parallel: same utt-ids ``<spk>_<gridcode>``), and for dev/test also
``{dev,test}_noisy_{m6dB,m3dB,0dB,3dB,6dB,9dB}`` (every utterance at that SNR;
``X_noisy`` holds each at one random SNR), and for train ``train_noisy2`` and
``train_noisy3``: more noisy copies (each utterance's reverberant speech with
another noise and SNR; ``SIZES[...]["train_noisy_copies"]``), which the MCT AMs
train on. Wavs: 16 kHz 16-bit mono; the dry
speech of every utterance at one active speech level (-35 dBFS, ITU-T P.56), no
per-utterance gain, so levels are equal across splits and SNRs (a sample that would
exceed full scale is clipped and counted). SNR is a whole-utterance figure
(silence included). ``simgrid_info.json`` records speakers, rooms and each
utterance's room, noise type, SNR and clipped samples. The same seed gives byte-identical wavs
for any ``nj``.
"""

from pipeline.grid import code_to_words, words_to_code
from .simulate import SNR_TAGS, SNRS_DB, dir_names, prepare_simgrid, train_noisy_dirs

__all__ = ["prepare_simgrid", "code_to_words", "words_to_code", "dir_names",
           "train_noisy_dirs", "SNRS_DB", "SNR_TAGS"]
