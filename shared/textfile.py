"""A text file's encoding: given, or told from the bytes, and said either way.

Shared by ``kehu import`` and the console's import page (both read files people saved).

A CSV saved by Excel on Chinese Windows is GB18030 (GBK), not UTF-8. Order of guesses: a byte-order
mark; UTF-8; then charset-normalizer's readings, the Chinese ones first when it finds them
plausible (on a few short names it ranks Korean cp949 above GB18030, which reads the same bytes
into other characters); then GB18030 itself.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer

BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
PREFERRED = ("gb18030", "big5")  # what kehu's shops write when they do not write UTF-8
HINT = "give the file's encoding with --encoding (gb18030 for Excel on Chinese Windows, big5, utf-8, ...)"


class EncodingProblem(ValueError):
    pass


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # a Python codec name: utf-8, utf-8-sig, gb18030, ...
    detected: bool  # told from the bytes rather than given

    @property
    def is_utf8(self) -> bool:
        return self.encoding in ("utf-8", "utf-8-sig")


def read_text(path: Path, encoding: str | None = None) -> Decoded:
    return decode_bytes(path.read_bytes(), encoding)


def decode_bytes(data: bytes, encoding: str | None = None) -> Decoded:
    """The text of a file's bytes (an upload to the console, a file ``kehu import`` read)."""
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise EncodingProblem(f"unknown encoding {encoding!r}; {HINT}") from None
        return Decoded(_decode(data, encoding), encoding, detected=False)
    for bom, name in BOMS:
        if data.startswith(bom):
            return Decoded(_decode(data, name), name, detected=True)
    try:
        return Decoded(data.decode("utf-8"), "utf-8", detected=True)
    except UnicodeDecodeError as exc:
        not_utf8 = _where(data, exc)
    readings = [match.encoding for match in charset_normalizer.from_bytes(data)]
    for name in dict.fromkeys([*(p for p in PREFERRED if p in readings), *readings, "gb18030"]):
        try:
            return Decoded(data.decode(name), name, detected=True)
        except UnicodeDecodeError:
            continue
    raise EncodingProblem(f"not UTF-8 ({not_utf8}) and no other encoding reads it; {HINT}")


def _decode(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise EncodingProblem(f"not readable as {encoding} ({_where(data, exc)}); {HINT}") from None


def _where(data: bytes, exc: UnicodeDecodeError) -> str:
    line = data.count(b"\n", 0, exc.start) + 1
    return f"byte 0x{data[exc.start]:02x} on line {line}"
