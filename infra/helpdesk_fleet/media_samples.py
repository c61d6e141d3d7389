"""Real files of every type S5 accepts, made here: for S5's tests, the system tests and the bench.

Each is what such a file looks like in real life, not just its first magic bytes: Pillow's
encoders for the images, a PDF with a cross-reference table, DOCX/XLSX as the OOXML zip
packages Word and Excel write (`[Content_Types].xml`, relationships, the main part), and
DOC/XLS as OLE2 compound files (CFB v3) whose root holds a `WordDocument` stream starting with
Word's FIB magic, or a `Workbook` stream starting with a BIFF8 BOF record, placed in the first
sector as Office places them.
"""

from __future__ import annotations

import io
import struct
import zipfile

from PIL import Image

_CFB_SECTOR = 512
_ENDOFCHAIN, _FREESECT, _FATSECT = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD


def image(fmt: str, size: tuple[int, int] = (32, 24)) -> bytes:
    """A small picture in `fmt` (PNG, JPEG, GIF, WEBP)."""
    picture = Image.new("RGB", size, (200, 30, 30))
    for x in range(size[0]):
        picture.putpixel((x, x % size[1]), (20, 40, 220))
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt)
    return buffer.getvalue()


def pdf(padding: int = 0) -> bytes:
    """A one-page PDF 1.4; `padding` bytes of binary stream content make it as large as wanted."""
    stream = bytes(range(256)) * (padding // 256) + bytes(padding % 256)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


_OOXML = {
    "docx": (
        "word/document.xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>Hello</w:t></w:r></w:p></w:body></w:document>",
    ),
    "xlsx": (
        "xl/workbook.xml",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets/></workbook>',
    ),
    # Macro-enabled Word: a zip like .docx, with another main part type (not allowed).
    "docm": (
        "word/document.xml",
        "application/vnd.ms-word.document.macroEnabled.main+xml",
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>',
    ),
}


def ooxml(kind: str) -> bytes:
    """`docx`, `xlsx` (or `docm`) as an OOXML package."""
    part, content_type, xml = _OOXML[kind]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/{part}" ContentType="{content_type}"/></Types>',
        )
        package.writestr(
            "_rels/.rels",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="' + part + '" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument"/></Relationships>',
        )
        package.writestr(part, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + xml)
    return buffer.getvalue()


def _directory_entry(name: str, kind: int, *, child: int, start: int, size: int) -> bytes:
    entry = bytearray(128)
    encoded = name.encode("utf-16-le") + b"\0\0"
    entry[: len(encoded)] = encoded
    struct.pack_into("<HBB", entry, 64, len(encoded), kind, 1)  # name length, type, colour black
    struct.pack_into("<III", entry, 68, _FREESECT, _FREESECT, child)  # left, right sibling; child
    struct.pack_into("<II", entry, 116, start, size)
    return bytes(entry)


def ole2(stream_name: str, data: bytes) -> bytes:
    """A compound file (CFB v3) whose root storage holds one stream, in sectors 0..n-1, then the
    FAT sector, then the directory sector. Streams of 4096 bytes or more live in regular sectors."""
    data = data.ljust(4096, b"\0")
    sectors = -(-len(data) // _CFB_SECTOR)
    data = data.ljust(sectors * _CFB_SECTOR, b"\0")
    fat_sector, directory_sector = sectors, sectors + 1
    fat = [*range(1, sectors), _ENDOFCHAIN, _FATSECT, _ENDOFCHAIN]
    fat += [_FREESECT] * (128 - len(fat))
    header = bytearray(_CFB_SECTOR)
    header[:8] = bytes.fromhex("D0CF11E0A1B11AE1")
    # minor version, major version 3, little-endian byte order mark, sector shift 9, mini shift 6
    struct.pack_into("<HHHHH", header, 24, 0x3E, 3, 0xFFFE, 9, 6)
    # directory sectors (0 for v3), FAT sectors, first directory sector, transaction, mini cutoff,
    # first mini FAT sector, mini FAT sectors
    struct.pack_into("<IIIIIII", header, 40, 0, 1, directory_sector, 0, 4096, _ENDOFCHAIN, 0)
    struct.pack_into("<II", header, 68, _ENDOFCHAIN, 0)  # first DIFAT sector, DIFAT sectors
    struct.pack_into("<109I", header, 76, fat_sector, *([_FREESECT] * 108))
    directory = _directory_entry("Root Entry", 5, child=1, start=_ENDOFCHAIN, size=0)
    directory += _directory_entry(stream_name, 2, child=_FREESECT, start=0, size=len(data))
    directory += bytes(128 * 2)
    return bytes(header) + data + struct.pack("<128I", *fat) + directory


def doc() -> bytes:
    fib = bytearray(4096)
    struct.pack_into("<HH", fib, 0, 0xA5EC, 0x00C1)  # wIdent (Word's magic), nFib (Word 97+)
    return ole2("WordDocument", bytes(fib))


def xls() -> bytes:
    # BIFF8 BOF record: type 0x0809, length 16, version 0x0600, substream: workbook globals
    bof = struct.pack("<HHHHII", 0x0809, 16, 0x0600, 0x0005, 0, 0) + bytes(8)
    return ole2("Workbook", bof)


def msi() -> bytes:
    """Another OLE2 file (an installer's shape), which S5 must refuse."""
    return ole2("SummaryInformation", b"\xfe\xff" + bytes(100))


def text() -> bytes:
    return "Printer log, 2026-11-24\nerror 42: paper jam — tray 2\n日本語も大丈夫\n".encode()


# file extension -> (bytes, the type S5 stores)
ALLOWED_SAMPLES: dict[str, tuple[bytes, str]] = {
    "png": (image("PNG"), "image/png"),
    "jpg": (image("JPEG"), "image/jpeg"),
    "gif": (image("GIF"), "image/gif"),
    "webp": (image("WEBP"), "image/webp"),
    "pdf": (pdf(), "application/pdf"),
    "docx": (ooxml("docx"), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": (ooxml("xlsx"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "doc": (doc(), "application/msword"),
    "xls": (xls(), "application/vnd.ms-excel"),
    "txt": (text(), "text/plain"),
}

WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(48) + b"PE\x00\x00" + bytes(200)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(200)
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>\n'
