"""The console code page of a WinRS shell (WINRS_CODEPAGE option of Create).

The simulated Windows writes UTF-8 (the collection's script contract). A console whose
code page is not 65001 turns that text into its own code page, characters it cannot
represent becoming '?', as PowerShell's console output does; stdin goes the other way.
ASCII passes untouched in every supported code page, so the common case costs one
`bytes.isascii()` per chunk.
"""
from __future__ import annotations

import codecs

UTF8_CODE_PAGE = 65001
DEFAULT_CODE_PAGE = 437  # what WinRS uses when the client names none


def codec_for(code_page: int) -> str | None:
    """The Python codec of a Windows code page, None if there is none (unsupported)."""
    name = "utf-8" if code_page == UTF8_CODE_PAGE else f"cp{code_page}"
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    # Only ASCII-compatible code pages: the fast path below relies on it.
    return info.name if b"A".decode(info.name, errors="strict") == "A" else None


class Transcoder:
    """Incremental conversion of one byte stream between UTF-8 and a console code page.

    Multi-byte sequences split across chunks are carried over, never mangled."""

    def __init__(self, source: str, target: str) -> None:
        self._passthrough = codecs.lookup(source).name == codecs.lookup(target).name
        self._decoder = codecs.getincrementaldecoder(source)(errors="replace")
        self._target = target
        self._pending = False  # the decoder holds an incomplete sequence

    def convert(self, data: bytes, final: bool = False) -> bytes:
        if self._passthrough or (not self._pending and data.isascii()):
            return data
        text = self._decoder.decode(data, final)
        self._pending = bool(self._decoder.getstate()[0])
        return text.encode(self._target, errors="replace")

    def flush(self) -> bytes:
        return b"" if self._passthrough else self.convert(b"", final=True)


def output_transcoder(code_page_codec: str) -> Transcoder:
    return Transcoder("utf-8", code_page_codec)


def input_transcoder(code_page_codec: str) -> Transcoder:
    return Transcoder(code_page_codec, "utf-8")
