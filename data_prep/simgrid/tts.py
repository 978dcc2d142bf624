"""Minimal ctypes binding to libespeak-ng, as shipped by ``espeakng_loader``.

libespeak-ng keeps global state (one voice, one callback), so there is one
engine per process: :func:`get_engine` returns it. Use processes, not threads,
for parallel synthesis.
"""

from __future__ import annotations

import _ctypes
import ctypes
import threading

import numpy as np

ESPEAK_RATE = 22050  # Hz; espeak-ng's native output rate

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_CHARS_UTF8 = 1
_POS_CHARACTER = 1
# espeak_PARAMETER enum values
_RATE, _VOLUME, _PITCH, _RANGE, _WORDGAP = 1, 2, 3, 4, 7

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_engine = None
_lock = threading.Lock()


class EspeakError(RuntimeError):
    """libespeak-ng could not be loaded or initialised, or synthesis failed."""


class Espeak:
    """libespeak-ng wrapper (synchronous mode, 22050 Hz int16 output).

    espeak-ng's wave generator keeps static state (glottal phase, flutter
    index, sample counters) across calls, so the same text synthesised twice in
    one process gives different samples, and ``espeak_ng_SetRandSeed`` does not
    help. To make every utterance independent of what was synthesised before
    (and so of the number of worker processes), :meth:`synth` loads a fresh
    copy of the library, initialises it, synthesises and unloads it again
    (about 4 ms of overhead per call).
    """

    def __init__(self, lib_path: str | None = None, data_path: str | None = None):
        if lib_path is None or data_path is None:
            try:
                import espeakng_loader
            except ImportError as e:
                raise EspeakError(
                    "espeakng_loader is not installed (pip install espeakng-loader)"
                ) from e
            lib_path = lib_path or espeakng_loader.get_library_path()
            data_path = data_path or espeakng_loader.get_data_path()
        self.lib_path = lib_path
        self.data_path = data_path
        self._chunks: list[np.ndarray] = []
        # Fail early, with the paths in the message, if the library is unusable.
        lib, cb = self._open()
        self._close(lib)

    def _open(self):
        try:
            lib = ctypes.CDLL(self.lib_path)
        except OSError as e:
            raise EspeakError(
                f"cannot load libespeak-ng from {self.lib_path}: {e}") from e
        lib.espeak_Initialize.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 500, self.data_path.encode(), 0)
        if rate != ESPEAK_RATE:
            self._close(lib)
            raise EspeakError(
                f"espeak_Initialize failed (returned {rate}) with library "
                f"{self.lib_path} and data directory {self.data_path}")

        def _collect(wav, n, _events):
            if n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0  # 0 = continue synthesis

        cb = _CALLBACK(_collect)  # caller keeps it alive while C may call it
        lib.espeak_SetSynthCallback(cb)
        return lib, cb

    @staticmethod
    def _close(lib):
        lib.espeak_Terminate()
        _ctypes.dlclose(lib._handle)

    def synth(self, text: str, voice: str = "en", rate: int = 175, pitch: int = 50,
              pitch_range: int = 50, word_gap: int = 0) -> np.ndarray:
        """Synthesise ``text``; the result depends only on the arguments.

        Args:
            voice: espeak voice name, e.g. ``"en+m3"`` (language + variant).
            rate: words per minute (80-450). pitch, pitch_range: 0-100.
            word_gap: extra pause between words, in units of 10 ms.
        Returns:
            ``(T,)`` int16 samples at 22050 Hz (:data:`ESPEAK_RATE`).
        """
        lib, cb = self._open()
        try:
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EspeakError(f"espeak-ng has no voice {voice!r}")
            for par, val in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range),
                             (_WORDGAP, word_gap), (_VOLUME, 100)):
                lib.espeak_SetParameter(par, int(val), 0)
            data = text.encode("utf-8") + b"\0"
            self._chunks = []
            err = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0,
                                   _ESPEAK_CHARS_UTF8, None, None)
            if err != 0:
                raise EspeakError(f"espeak_Synth failed with code {err} on {text!r}")
        finally:
            self._close(lib)
            del cb
        if not self._chunks:
            return np.zeros(0, np.int16)
        out = np.concatenate(self._chunks)
        self._chunks = []
        return out


def get_engine() -> Espeak:
    """The process-wide :class:`Espeak` instance (created on first use)."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = Espeak()
        return _engine
