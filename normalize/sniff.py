"""What bytes are: an e-mail at all (the cheap check at the door of `normalize_email`), and
which kind of file an attachment is (`sniff_kind`, for `attachments.screen_attachment`).

Empty input, binary data (an Outlook .msg, random bytes), a JSON document or text without an
RFC 5322 header block raise `NotAnEmail`; anything with a header block that names at least
one well-known field goes on to be parsed, however broken its MIME is. An attachment's kind
comes from its bytes: signatures, the part names of a ZIP, the stream names of an OLE file;
a text file's from its name or declared type (no text kind has a signature).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

from intake.errors import NotAnEmail

KNOWN_FIELDS = frozenset(
    b"from sender to cc bcc subject date message-id received return-path mime-version "
    b"content-type reply-to delivered-to in-reply-to references x-mailer user-agent "
    b"x-original-to envelope-to delivery-date auto-submitted content-transfer-encoding "
    b"list-id thread-topic x-sender".split()
)
# RFC 5322 §2.2: a field name is printable US-ASCII except the colon.
FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:")
LINE_END = re.compile(rb"\r\n|\r|\n")
BLANK_LINE = re.compile(rb"(?:\r\n|\n|\r(?!\n))[ \t]*(?:\r\n|\n|\r(?!\n))")
LEADING_BLANK_LINES = re.compile(rb"(?:[ \t]*(?:\r\n|\r|\n))+")
SNIFF_BYTES = 256 * 1024


def header_lines(payload: bytes) -> list[bytes]:
    """The lines of the header block: up to the first empty line (RFC 5322 §2.1)."""
    head = payload[:SNIFF_BYTES]
    end = BLANK_LINE.search(head)
    lines = LINE_END.split(head[: end.start()] if end else head)
    if lines and lines[0].startswith(b"From "):
        lines = lines[1:]  # an mbox separator line ("From sender date")
    return lines


def check_email(payload: bytes) -> bytes:
    """The payload to parse (leading blank lines dropped); `NotAnEmail` if it is none."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise NotAnEmail(f"expected bytes, got {type(payload).__name__}")
    payload = bytes(payload)
    leading = LEADING_BLANK_LINES.match(payload)
    payload = payload[leading.end() :] if leading else payload  # seen in the wild
    if not payload.strip():
        raise NotAnEmail("empty payload")
    if payload[:1] in (b"{", b"["):
        raise NotAnEmail("a JSON document, not an e-mail")
    lines = header_lines(payload)
    if any(b"\x00" in line for line in lines):
        raise NotAnEmail("binary data, not an e-mail")
    for line in lines:
        match = FIELD.match(line)
        if match and match.group(1).lower() in KNOWN_FIELDS:
            return payload
        if not match and line[:1] not in (b" ", b"\t"):
            break
    raise NotAnEmail("no RFC 5322 header block")


# --- the kind of an attachment, by its bytes ------------------------------------------------

ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/x-zip")
OOXML = "application/vnd.openxmlformats-officedocument."
ODF = "application/vnd.oasis.opendocument."


@dataclass(frozen=True)
class Kind:
    """A kind of file told by its bytes: its extensions and content types (the first of each
    is what the unit's mail gives it); a `text` kind has no signature of its own."""

    extensions: tuple[str, ...]
    content_types: tuple[str, ...]
    text: bool = False


# The names are intake.settings.ATTACHMENT_TYPES, the ones `[attachments] allowed_types` lists.
KINDS: dict[str, Kind] = {
    "pdf": Kind(("pdf",), ("application/pdf", "application/x-pdf")),
    "png": Kind(("png",), ("image/png", "image/x-png")),
    "jpeg": Kind(("jpg", "jpeg", "jpe", "jfif"), ("image/jpeg", "image/pjpeg", "image/jpg")),
    "gif": Kind(("gif",), ("image/gif",)),
    "webp": Kind(("webp",), ("image/webp",)),
    "heic": Kind(("heic", "heif"), ("image/heic", "image/heif")),
    "tiff": Kind(("tif", "tiff"), ("image/tiff",)),
    "txt": Kind(("txt", "log"), ("text/plain",), text=True),
    "csv": Kind(("csv",), ("text/csv", "application/csv", "application/vnd.ms-excel"), True),
    "cert": Kind(  # certificates, CSRs and signatures (SSL problem reports): PEM or DER
        ("pem", "crt", "cer", "der", "csr", "p7s", "p7b", "p7c"),
        (
            "application/pkix-cert",
            "application/x-x509-ca-cert",
            "application/x-x509-user-cert",
            "application/x-pem-file",
            "application/pkcs10",
            "application/pkcs7-signature",
            "application/pkcs7-mime",
            "application/x-pkcs7-signature",
            "application/x-pkcs7-certificates",
            "text/plain",  # a PEM
        ),
    ),
    "docx": Kind(("docx",), (OOXML + "wordprocessingml.document", *ZIP_TYPES)),
    "xlsx": Kind(("xlsx",), (OOXML + "spreadsheetml.sheet", *ZIP_TYPES)),
    "pptx": Kind(("pptx",), (OOXML + "presentationml.presentation", *ZIP_TYPES)),
    "odt": Kind(("odt",), (ODF + "text", *ZIP_TYPES)),
    "ods": Kind(("ods",), (ODF + "spreadsheet", *ZIP_TYPES)),
    "doc": Kind(("doc",), ("application/msword",)),
    "xls": Kind(("xls",), ("application/vnd.ms-excel",)),
    "ppt": Kind(("ppt",), ("application/vnd.ms-powerpoint",)),
    "rtf": Kind(("rtf",), ("application/rtf", "text/rtf")),
    "eml": Kind(("eml",), ("message/rfc822",), text=True),
    "msg": Kind(("msg",), ("application/vnd.ms-outlook",)),
    "zip": Kind(("zip",), ZIP_TYPES),
}
TEXT_KINDS = tuple(name for name, kind in KINDS.items() if kind.text) + ("cert",)

# Programs, whatever they are called: never forwarded.
EXECUTABLES = (
    (b"MZ", "a Windows program (MZ)"),
    (b"\x7fELF", "a Linux program (ELF)"),
    (b"\xfe\xed\xfa\xce", "a macOS program (Mach-O)"),
    (b"\xfe\xed\xfa\xcf", "a macOS program (Mach-O)"),
    (b"\xce\xfa\xed\xfe", "a macOS program (Mach-O)"),
    (b"\xcf\xfa\xed\xfe", "a macOS program (Mach-O)"),
    (b"\xca\xfe\xba\xbe", "a macOS or Java program"),
    (b"#!", "a script (#!)"),
)
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"{\\rtf", "rtf"),
)
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Compound File Binary: the stream names tell more
OLE_STREAMS = (
    ("WordDocument", "doc"),
    ("Workbook", "xls"),
    ("Book", "xls"),
    ("PowerPoint Document", "ppt"),
    ("__substg1.0_", "msg"),
)
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
# Bytes no text file holds (tab, line ends, FF, ESC and the DOS end-of-file mark are fine).
_NOT_TEXT = re.compile(rb"[\x00-\x08\x0e-\x19\x1c-\x1f]")
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,16})\Z")


def executable(data: bytes) -> str | None:
    """What kind of program `data` is, or None."""
    return next((what for magic, what in EXECUTABLES if data.startswith(magic)), None)


def _zip_kind(data: bytes) -> str:
    """docx/xlsx/pptx (OOXML), odt/ods (ODF), else a plain (or broken) zip archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            with archive.open("mimetype") if "mimetype" in names else io.BytesIO() as entry:
                mimetype = entry.read(100)  # never more: an entry may inflate to gigabytes
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, OSError):
        return "zip"
    if "[Content_Types].xml" in names:
        for prefix, kind in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
            if any(name.startswith(prefix) for name in names):
                return kind
    return {(ODF + "text").encode(): "odt", (ODF + "spreadsheet").encode(): "ods"}.get(
        mimetype.strip(), "zip"
    )


def _binary_kind(data: bytes) -> str | None:
    """The kind the signature of `data` names (no text kinds), or None."""
    found = next((kind for magic, kind in SIGNATURES if data.startswith(magic)), None)
    if found:
        return found
    if b"%PDF-" in data[:1024]:  # readers accept leading junk before the header
        return "pdf"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return "heic"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(data)
    if data.startswith(OLE):
        names = [(name.encode("utf-16-le"), kind) for name, kind in OLE_STREAMS]
        return next((kind for name, kind in names if name in data), "ole")
    if len(data) > 2 and data[0] == 0x30 and 0x80 < data[1] <= 0x84:  # DER: a long SEQUENCE
        return "cert"
    return None


def is_text(data: bytes) -> bool:
    """Text in any charset (UTF-16 only with its byte-order mark): no control bytes."""
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            try:
                return not _NOT_TEXT.search(data[2:].decode(codec).encode("utf-8"))
            except UnicodeDecodeError:
                return False
    return not _NOT_TEXT.search(data)


def _text_kind(extension: str, declared: str, data: bytes) -> str:
    """Which text kind a text file is: by its name, else its declared type; an .eml must
    parse as a mail and a certificate be PEM, else it is plain text."""
    named = [k for k in TEXT_KINDS if extension in KINDS[k].extensions]
    typed = [k for k in TEXT_KINDS if declared in KINDS[k].content_types]
    kind = (named or typed or ["txt"])[0]
    if kind == "eml":
        try:
            check_email(data)
        except NotAnEmail:
            return "txt"
    if kind == "cert" and b"-----BEGIN " not in data[:4096]:
        return "txt"
    return kind


def extension_of(name: str | None) -> str:
    """The lower-case extension of `name` ("" when it has none: "Dilekçe 12.03.2026")."""
    found = _EXTENSION.search(name or "")
    ext = found.group(1).lower() if found else ""
    return ext if any(ch.isalpha() for ch in ext) else ""


def sniff_kind(data: bytes, filename: str | None, content_type: str) -> str | None:
    """The kind of `data` by its bytes (a name from `KINDS`, "ole" for another compound
    file), or None for content of no kind we know; the name and type only tell text apart."""
    found = _binary_kind(data)
    if found is None and is_text(data):
        return _text_kind(extension_of(filename), content_type, data)
    return found
