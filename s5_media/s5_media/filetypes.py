"""What a file is, judged from its bytes, and whether the client's word agrees.

The allow-list (the contract's): JPEG, PNG, GIF, WebP, PDF, plain text, Word (.doc, .docx) and
Excel (.xls, .xlsx). How each is recognised:

- images and PDF: their magic bytes, read by puremagic (its best-scored matches must name
  exactly one allowed type);
- .doc / .xls: an OLE2 compound file (olefile) whose root holds a `WordDocument` stream, or a
  `Workbook` / `Book` stream; any other OLE2 file (an MSI installer, a PowerPoint) is refused;
- .docx / .xlsx: a zip archive starting with a local file header whose `[Content_Types].xml`
  declares the main part of a Word document or an Excel workbook (the macro-enabled .docm /
  .xlsm declare other types and are refused);
- plain text: the whole file is valid UTF-8 without NUL bytes (checked as it streams, see
  TextCheck), and puremagic does not take it for markup (HTML, SVG, XML), which a browser
  would run rather than show.

Anything else (an executable, HTML, SVG, a zip of something else) is not allowed. The
declared type (the part's Content-Type, or the filename's extension when that is missing or
`application/octet-stream`) must agree with the detected one; the stored type is the detected one.
"""

from __future__ import annotations

import codecs
import contextlib
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

import olefile
import puremagic

JPEG = "image/jpeg"
PNG = "image/png"
GIF = "image/gif"
WEBP = "image/webp"
PDF = "application/pdf"
TEXT = "text/plain"
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The stored type -> the extension of the generated name.
ALLOWED: dict[str, str] = {
    JPEG: "jpg",
    PNG: "png",
    GIF: "gif",
    WEBP: "webp",
    PDF: "pdf",
    TEXT: "txt",
    DOC: "doc",
    XLS: "xls",
    DOCX: "docx",
    XLSX: "xlsx",
}
MAGIC_TYPES = frozenset({JPEG, PNG, GIF, WEBP, PDF})
MARKUP = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml", "application/xml", "text/xml"})

# What a client may declare for each detected type (browsers and tools differ in the names).
ACCEPTED_DECLARATIONS: dict[str, frozenset[str]] = {
    JPEG: frozenset({JPEG, "image/jpg", "image/pjpeg"}),
    PNG: frozenset({PNG, "image/x-png"}),
    GIF: frozenset({GIF}),
    WEBP: frozenset({WEBP}),
    PDF: frozenset({PDF, "application/x-pdf"}),
    # Text in all its everyday forms (a log, a CSV export, notes, a JSON dump) is stored and
    # served as text/plain.
    TEXT: frozenset(
        {
            TEXT,
            "text/csv",
            "text/tab-separated-values",
            "text/markdown",
            "text/x-markdown",
            "text/x-log",
            "application/json",
        }
    ),
    DOC: frozenset({DOC}),
    XLS: frozenset({XLS, "application/msexcel", "application/x-msexcel", "application/x-excel", "application/excel"}),
    DOCX: frozenset({DOCX}),
    XLSX: frozenset({XLSX}),
}
# No declaration at all: the extension speaks for the client instead (as a browser's would).
UNDECLARED = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/unknown"})
EXTENSION_DECLARATIONS: dict[str, str] = {
    "jpg": JPEG, "jpeg": JPEG, "jpe": JPEG, "jfif": JPEG, "png": PNG, "gif": GIF, "webp": WEBP, "pdf": PDF,
    "txt": TEXT, "text": TEXT, "log": TEXT, "csv": TEXT, "md": TEXT, "json": TEXT,
    "doc": DOC, "xls": XLS, "docx": DOCX, "xlsx": XLSX,
    # Types that are never allowed, named so that such a file sent as octet-stream is refused
    # even if its bytes would pass as something else.
    "html": "text/html", "htm": "text/html", "xhtml": "application/xhtml+xml", "svg": "image/svg+xml",
    "exe": "application/vnd.microsoft.portable-executable", "js": "text/javascript",
}  # fmt: skip

OOXML_MAIN_PARTS: dict[bytes, str] = {
    b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
}
CONTENT_TYPES_PART = "[Content_Types].xml"
CONTENT_TYPES_MAX_BYTES = 1024 * 1024  # a real one is a few KiB; a bigger one is not read
ZIP_LOCAL_HEADER = b"PK\x03\x04"


@dataclass(frozen=True, slots=True)
class Verdict:
    """`mime_type` is the stored type, or None with `seen` naming what it looked like."""

    mime_type: str | None
    seen: str


class TextCheck:
    """Follows a file as it streams: is it all valid UTF-8 without NUL bytes? (A decoder that
    keeps a split multi-byte sequence between chunks; no whole file in memory.)"""

    __slots__ = ("_decoder", "is_text")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.is_text = True

    def feed(self, chunk: bytes) -> None:
        if not self.is_text:
            return
        if b"\x00" in chunk:
            self.is_text = False
            return
        try:
            self._decoder.decode(chunk)
        except UnicodeDecodeError:
            self.is_text = False

    def finish(self) -> bool:
        if self.is_text:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.is_text = False
        return self.is_text


def _matches(file: BinaryIO) -> list[puremagic.PureMagicWithConfidence]:
    """puremagic's matches, best first."""
    file.seek(0)
    try:
        matches = puremagic.magic_stream(file)
    except (puremagic.PureError, ValueError):
        return []
    return sorted(matches, key=lambda m: m.confidence, reverse=True)


def _looks_like(matches: list[puremagic.PureMagicWithConfidence]) -> str:
    """A short name for what a refused file looks like, for the error sentence."""
    if not matches:
        return "binary data of an unknown type"
    if matches[0].mime_type:
        return str(matches[0].mime_type)
    named = next((m for m in matches if m.mime_type), matches[0])
    return str(named.name or named.extension or "binary data of an unknown type")


def _ole_kind(file: BinaryIO) -> str | None:
    file.seek(0)
    try:
        with contextlib.closing(olefile.OleFileIO(file)) as ole:
            word = ole.exists("WordDocument")
            excel = ole.exists("Workbook") or ole.exists("Book")
    except (OSError, ValueError, IndexError, KeyError):  # olefile's errors on a damaged file
        return None
    if word == excel:  # neither, or a strange file claiming to be both
        return None
    return DOC if word else XLS


def _ooxml_kind(file: BinaryIO) -> str | None:
    file.seek(0)
    try:
        with zipfile.ZipFile(file) as archive:
            info = archive.getinfo(CONTENT_TYPES_PART)
            if info.file_size > CONTENT_TYPES_MAX_BYTES:
                return None
            content_types = archive.read(info)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, NotImplementedError, EOFError):
        return None
    kinds = {kind for part, kind in OOXML_MAIN_PARTS.items() if part in content_types}
    return kinds.pop() if len(kinds) == 1 else None


def detect(file: BinaryIO, *, text: bool) -> Verdict:
    """The stored type of the file (blocking: call it in a thread). `text` is TextCheck's verdict."""
    matches = _matches(file)
    best = [m for m in matches if m.confidence == matches[0].confidence]
    magic = {m.mime_type for m in best} & MAGIC_TYPES
    if len(magic) == 1:
        detected = magic.pop()
        return Verdict(detected, detected)
    file.seek(0)
    if olefile.isOleFile(file):
        kind = _ole_kind(file)
        return Verdict(kind, kind or "an OLE2 file that is neither a Word document nor an Excel workbook")
    file.seek(0)
    if file.read(len(ZIP_LOCAL_HEADER)) == ZIP_LOCAL_HEADER:
        kind = _ooxml_kind(file)
        return Verdict(kind, kind or "a zip archive that is neither a Word document nor an Excel workbook")
    if text and not {m.mime_type for m in best} & MARKUP:
        return Verdict(TEXT, TEXT)
    return Verdict(None, _looks_like(matches))


def media_type(content_type: str | None) -> str:
    """`Image/PNG; charset=x` -> `image/png`."""
    return (content_type or "").partition(";")[0].strip().lower()


def declared_type(content_type: str | None, filename: str) -> str | None:
    """What the client says the file is: the part's Content-Type, else the filename's extension."""
    declared = media_type(content_type)
    if declared not in UNDECLARED:
        return declared
    _, dot, extension = filename.rpartition(".")
    return EXTENSION_DECLARATIONS.get(extension.lower()) if dot else None


def agrees(detected: str, declared: str | None) -> bool:
    return declared is None or declared in ACCEPTED_DECLARATIONS[detected]
