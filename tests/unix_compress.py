"""Unix ``compress`` (.Z / WSJ0's .z) for tests: no such encoder is on PyPI, and
the LM reader decodes with ``gzip -dc``, so an independent writer checks it."""

from __future__ import annotations


def lzw_compress(data: bytes) -> bytes:
    """Unix compress (.Z) output: magic 1f 9d, 16-bit maximum, block mode; codes
    packed LSB first, their width growing from 9 bits when the decoder's next free
    code outgrows it; each width's codes fill whole groups of 8 (as compress pads
    them). No table reset: fine for small inputs."""
    out = bytearray(b"\x1f\x9d\x90")
    table = {bytes([i]): i for i in range(256)}
    next_code, width, bits, nbits, n_width, k = 257, 9, 0, 0, 0, 0

    def emit(code):
        nonlocal bits, nbits, n_width, width, k
        k += 1
        while 257 + max(k - 2, 0) > (1 << width) - 1 and width < 16:
            nbits += ((8 - n_width % 8) % 8) * width  # pad the group with zeros
            while nbits >= 8:
                out.append(bits & 0xFF)
                bits >>= 8
                nbits -= 8
            width, n_width = width + 1, 0
        bits |= code << nbits
        nbits += width
        n_width += 1
        while nbits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8

    w = b""
    for byte in data:
        wc = w + bytes([byte])
        if wc in table:
            w = wc
            continue
        emit(table[w])
        if next_code < 1 << 16:
            table[wc] = next_code
            next_code += 1
        w = bytes([byte])
    if w:
        emit(table[w])
    if nbits:
        out.append(bits & 0xFF)
    return bytes(out)
