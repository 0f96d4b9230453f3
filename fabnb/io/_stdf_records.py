"""STDF V4 record names and a bounds-checked decoder for the few records read in Python.

The hot records (PIR, PRR, PTR, MPR) are parsed by the Numba kernel; the per-wafer and
per-file ones (MIR, WIR, WRR, WCR, HBR, SBR, PCR, MRR) are decoded here field by field.
A record may stop early (STDF lets trailing fields be omitted: they take their
"missing" value), but a field cut in the middle raises :class:`FabDataError` naming
the byte offset and the record type.

Strings (:func:`clean_text`) are decoded as latin-1, so every byte is a character
(testers write ``µ`` as byte 0xB5), stripped of blank and NUL padding, and any control
character left inside becomes ``"?"``: ids must survive NetCDF (no embedded NUL), CSV
and HTML; a tab is kept, and the replacement is counted so the reader can say so.
"""

from __future__ import annotations

import re
import struct

from ..errors import FabDataError

#: (REC_TYP, REC_SUB) -> name, V4 and V4-2007
RECORD_NAMES = {
    (0, 10): "FAR", (0, 20): "ATR", (0, 30): "VUR",
    (1, 10): "MIR", (1, 20): "MRR", (1, 30): "PCR", (1, 40): "HBR", (1, 50): "SBR",
    (1, 60): "PMR", (1, 62): "PGR", (1, 63): "PLR", (1, 70): "RDR", (1, 80): "SDR",
    (1, 90): "PSR", (1, 91): "NMR", (1, 92): "CNR", (1, 93): "SSR", (1, 94): "CDR",
    (2, 10): "WIR", (2, 20): "WRR", (2, 30): "WCR",
    (5, 10): "PIR", (5, 20): "PRR",
    (10, 30): "TSR",
    (15, 10): "PTR", (15, 15): "MPR", (15, 20): "FTR", (15, 30): "STR",
    (20, 10): "BPS", (20, 20): "EPS",
    (50, 10): "GDR", (50, 30): "DTR",
}
CODES = {name: typ * 256 + sub for (typ, sub), name in RECORD_NAMES.items()}

#: STDF's "value not given" for U4 counts
MISSING_U4 = 4294967295
MISSING_I2 = -32768
#: WCR WF_FLAT -> the contract's notch direction
FLAT = {"U": "up", "D": "down", "L": "left", "R": "right"}
#: C0 and C1 control characters (latin-1 code points 0-31 and 127-159) but the tab, which
#: real testers put in test names and every format fabnb writes can hold
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
PADDING = " \t\r\n\x00"


def clean_text(raw: bytes) -> tuple[str, bool]:
    """``raw`` as latin-1 without padding, control characters replaced by ``"?"``;
    the flag says whether any was replaced.

    >>> clean_text(b"W\\xb5-07\\x00\\x00")
    ('Wµ-07', False)
    >>> clean_text(b"L01\\x00-03")
    ('L01?-03', True)
    """
    text = raw.decode("latin-1").strip(PADDING)
    clean = CONTROL.sub("?", text)
    return clean, clean != text


def record_name(code: int) -> str:
    """Name of record code ``REC_TYP * 256 + REC_SUB`` (``"REC 7/3"`` when unknown)."""
    typ, sub = divmod(int(code), 256)
    return RECORD_NAMES.get((typ, sub), f"unknown record {typ}/{sub}")


class Fields:
    """Read the fields of one record body in order; absent trailing fields give ``None``.

    Example
    -------
    >>> f = Fields(b"\\x01\\xff\\x03abc", ">", offset=100, name="WIR")
    >>> f.u1(), f.u1(), f.cn()
    (1, 255, 'abc')
    >>> f.u4() is None
    True
    """

    def __init__(self, body: bytes, byteorder: str, offset: int, name: str):
        self.body, self.order, self.offset, self.name, self.pos = body, byteorder, offset, name, 0
        self.replaced = 0  # strings whose control characters became "?"

    def _take(self, size: int, field: str):
        if self.pos >= len(self.body):
            return None
        if self.pos + size > len(self.body):
            raise FabDataError(
                f"{self.name} record at byte offset {self.offset}: field {field} overruns the "
                f"record length {len(self.body)}"
            )
        chunk = self.body[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def _num(self, fmt: str, field: str):
        raw = self._take(struct.calcsize(fmt), field)
        return None if raw is None else struct.unpack(self.order + fmt, raw)[0]

    def u1(self, field="U1"):
        return self._num("B", field)

    def u2(self, field="U2"):
        return self._num("H", field)

    def u4(self, field="U4"):
        return self._num("I", field)

    def i2(self, field="I2"):
        return self._num("h", field)

    def r4(self, field="R4"):
        return self._num("f", field)

    def c1(self, field="C1"):
        raw = self._take(1, field)
        return None if raw is None else raw.decode("latin-1")

    def cn(self, field="Cn"):
        size = self._take(1, field)
        if size is None:
            return None
        n = size[0]
        if self.pos + n > len(self.body):
            raise FabDataError(
                f"{self.name} record at byte offset {self.offset}: field {field} overruns the "
                f"record length {len(self.body)}"
            )
        text, replaced = clean_text(self.body[self.pos:self.pos + n])
        self.pos += n
        self.replaced += replaced
        return text
