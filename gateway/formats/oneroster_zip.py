"""The OneRoster zip as files: opened safely, its root found, each CSV member read as text.

Text is UTF-8 as the binding asks; a UTF-8 byte order mark is skipped and a UTF-16 file with its
byte order mark is read too (Excel's "Unicode text" export), each with a warning. UTF-16 without
a mark, Latin-1 and the like have no single reading and are refused where they are met.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, BinaryIO

from gateway.core.limits import shown
from gateway.errors import InputInvalid, Issue

UNREADABLE_HEADER = ["\0unreadable"]
UTF8_BOM_RULE = "UTF-8 byte order mark skipped"
UTF16_RULE = "UTF-16 text read (the binding asks for UTF-8)"
# What a damaged zip entry raises while it is read: a bad CRC, broken deflate data, a cut-off
# entry, a compression method this Python cannot read.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)


def open_zip(stream: BinaryIO) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise InputInvalid(
            "the OneRoster payload is not a zip file",
            [Issue(path="$", message="send the bundle as a zip with manifest.csv at its root")],
        ) from exc
    encrypted = [shown(i.filename) for i in zf.infolist() if i.flag_bits & 0x1]
    if encrypted:
        raise InputInvalid(
            "the OneRoster zip is encrypted",
            [Issue(path=name, message="send the bundle unencrypted (over TLS)") for name in encrypted],
        )
    return zf


@contextlib.contextmanager
def readable(fname: str) -> Iterator[None]:
    try:
        yield
    except _DAMAGED as exc:
        raise InputInvalid(
            "the OneRoster zip cannot be read",
            [
                Issue(
                    path=shown(fname),
                    message="the zip entry is damaged, or compressed in a way the gateway cannot "
                    "read (use deflate); zip the bundle again",
                )
            ],
        ) from exc


def root_prefix(zf: zipfile.ZipFile) -> str:
    """The bundle root: the zip's root, or its single top folder when a folder was zipped whole."""
    names = zf.namelist()
    if "manifest.csv" in names:
        return ""
    nested = [n for n in names if n.endswith("/manifest.csv") and n.count("/") == 1]
    return nested[0][: -len("manifest.csv")] if len(nested) == 1 else ""


def encoding_of(zf: zipfile.ZipFile, name: str) -> tuple[str, str | None]:
    """The codec a member is read with, and the warning rule when it is not plain UTF-8."""
    with zf.open(name) as raw:
        head = raw.read(3)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", UTF16_RULE  # the codec reads the mark and drops it
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", UTF8_BOM_RULE
    if b"\x00" in head[:2]:
        # CSV text never holds NUL: this is UTF-16 (or UTF-32) with no mark saying which byte order.
        raise InputInvalid(
            "a OneRoster file is not UTF-8",
            [Issue(path=shown(name), message="UTF-16 text without a byte order mark: save it as UTF-8")],
        )
    return "utf-8", None


def open_text(zf: zipfile.ZipFile, name: str, encoding: str) -> IO[str]:
    return io.TextIOWrapper(zf.open(name), encoding=encoding, newline="")


def header_row(zf: zipfile.ZipFile, name: str, encoding: str) -> list[str]:
    """The first CSV row as written (names not yet stripped); ``UNREADABLE_HEADER`` if not text.

    Only the first line is decoded, so a bad byte further down is reported at its own line."""
    decoder = codecs.getincrementaldecoder(encoding)()
    text = ""
    try:
        with zf.open(name) as raw:
            while "\n" not in text and (chunk := raw.readline(65536)):
                text += decoder.decode(chunk)
        return next(csv.reader([text.split("\n", 1)[0].rstrip("\r")]), [])
    except (UnicodeError, csv.Error):
        return UNREADABLE_HEADER
