"""Opening input files as byte streams, over fsspec, decompressed by extension.

Decompression is done here rather than by `fsspec.open(compression=...)` because a reader must
learn when a file is cut short: fsspec's zstd reader ends quietly in the middle of a frame, and
warcio takes an EOFError from a truncated gzip for a clean end of file. Here a truncated stream
always raises `TruncatedInput`.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import BinaryIO

import zstandard
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

#: File name endings that mean a compressed file, and the codec each one needs.
COMPRESSION_BY_SUFFIX = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2", ".xz": "xz"}

_CHUNK = 1 << 17

#: Buffer over decompressed data; small, so that when a stream breaks little of what was decoded
#: before the break is still sitting unread in it.
_BUFFER = 1 << 16


class TruncatedInput(Exception):
    """A compressed stream ended before its end marker (not an EOFError, which warcio swallows)."""


def compression_of(url: str) -> str | None:
    """The codec a file name asks for, or None for a plain file."""
    lower = url.lower()
    return next((codec for suffix, codec in COMPRESSION_BY_SUFFIX.items() if lower.endswith(suffix)), None)


class _ZstdReader(io.RawIOBase):
    """Frame-by-frame zstd decoding that raises when the input stops inside a frame."""

    def __init__(self, source: BinaryIO):
        self._source = source
        self._dctx = zstandard.ZstdDecompressor()
        self._frame = self._dctx.decompressobj()
        self._in_frame = False
        self._out = b""
        self._pos = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def _decompress(self, data: bytes) -> bytes:
        parts = []
        while data:
            if self._frame.eof:  # the previous frame is complete: the rest starts a new one
                self._frame = self._dctx.decompressobj()
            self._in_frame = True
            parts.append(self._frame.decompress(data))
            data = self._frame.unused_data if self._frame.eof else b""
            if self._frame.eof:
                self._in_frame = False
        return b"".join(parts)

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while self._pos >= len(self._out):
            if self._done:
                return 0
            chunk = self._source.read(_CHUNK)
            if not chunk:
                self._done = True
                if self._in_frame:
                    raise TruncatedInput("zstd data ends in the middle of a frame")
                return 0
            self._out, self._pos = self._decompress(chunk), 0
        n = min(len(buffer), len(self._out) - self._pos)
        buffer[:n] = self._out[self._pos : self._pos + n]
        self._pos += n
        return n


class _Strict(io.RawIOBase):
    """Turns the EOFError of a cut-short gzip/bz2/xz stream into `TruncatedInput`.

    Reads with `read1` so that each call decodes one chunk: what came before a break has already
    been handed on when the break is found.
    """

    def __init__(self, inner: BinaryIO):
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        try:
            data = self._inner.read1(len(buffer))
        except EOFError as exc:
            raise TruncatedInput(str(exc)) from exc
        buffer[: len(data)] = data
        return len(data)


@contextmanager
def open_binary(url: str) -> Iterator[BinaryIO]:
    """A buffered binary stream of the file's decompressed bytes, supporting `readline(limit)`."""
    fs, path = url_to_fs(url)
    codec = compression_of(url)
    with ExitStack() as stack:
        raw = stack.enter_context(fs.open(path, "rb"))
        if not isinstance(fs, LocalFileSystem):  # remote files: read in large requests
            raw = io.BufferedReader(raw, buffer_size=8 << 20)
        if codec is None:
            stream = raw
        elif codec == "zstd":
            stream = _ZstdReader(raw)
        elif codec == "gzip":
            stream = _Strict(stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")))
        elif codec == "bz2":
            stream = _Strict(stack.enter_context(bz2.BZ2File(raw, mode="rb")))
        else:
            stream = _Strict(stack.enter_context(lzma.LZMAFile(raw, mode="rb")))
        yield stream if codec is None else io.BufferedReader(stream, buffer_size=_BUFFER)
