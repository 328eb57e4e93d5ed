"""Turn uploaded bytes into DataFrames of text, whatever the export looks like.

Everything is read as text so that IDs keep their leading zeros; typing happens in
`edtech.parsing` under the contract's rules. Nothing here opens a path: callers pass bytes
or an open binary file (edtech.data does the file I/O).

A text table is read exactly or not at all: its encoding is decided once from the whole file,
rows are split by a real CSV reader, and a row that cannot be split into the header's columns
(more values than columns, bytes that are not text, a quote never closed) is not guessed at but
handed on as a problem naming its line (`frame.attrs[ROW_PROBLEMS]`).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd

from edtech.core import config

DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 1 << 20
SCAN_BLOCK_BYTES = 8 << 20
FIELD_LIMIT = 131_072          # Python's csv field limit, kept: a longer value is an error, not a crash
ROW_PROBLEMS = "row_problems"  # frame.attrs key: [(line, column, value, reason)] for rows left out of the frame
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (Excel 97-2003) and other old Office files
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
_NOT_TEXT = re.compile("[\x00\udc80-\udcff]")       # NUL, or a byte the encoding could not decode
_NOT_TEXT_UTF16 = re.compile("[\x00\ufffd]")
_VALID_NON_ASCII = re.compile("[^\x00-\x7f\udc80-\udcff]")
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "cp1252": "Windows-1252", "utf-16": "UTF-16"}
XLS_FIX = "open it in Excel or LibreOffice, save it as .xlsx (or CSV UTF-8) and import that"
ODS_FIX = "save it as .xlsx or CSV (in LibreOffice: File › Save As) and import that"


class NotATableError(ValueError):
    """The content cannot be read as a table at all (binary, empty, unknown format)."""

    def __init__(self, reason: str, fix: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.fix = reason, fix


@dataclass
class TextLayout:
    encoding: str       # utf-8, utf-8-sig, utf-16 or cp1252
    delimiter: str
    header: list[str]


def detect_format(name: str, head: bytes) -> str:
    """csv, xlsx, parquet, zip, ods or xls, from the content first and the name second."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(OLE2_MAGIC):
        return "xls"
    if head.startswith(b"PK\x03\x04"):
        # an OpenDocument file stores its (uncompressed) mimetype as the first member
        if b"application/vnd.oasis.opendocument" in head[:200] or name.lower().endswith(".ods"):
            return "ods"
        return "xlsx" if name.lower().endswith((".xlsx", ".xlsm")) or b"xl/" in head[:2000] else "zip"
    return "csv"


def refuse_unsupported(fmt: str) -> None:
    """Spreadsheet formats this product does not read, each with what to do instead."""
    if fmt == "ods":
        raise NotATableError(".ods (OpenDocument) is not supported", ODS_FIX)
    if fmt == "xls":
        raise NotATableError(".xls (Excel 97-2003) is not supported", XLS_FIX)


def _looks_utf16(sample: bytes) -> bool:
    """Mostly-ASCII text in UTF-16 has a NUL in every other byte."""
    odd, even = sample[1::2], sample[0::2]
    return len(sample) >= 8 and max(odd.count(0), even.count(0)) > 0.4 * max(len(odd), 1)


def sniff_text(head: bytes) -> TextLayout:
    """Encoding and delimiter of a text table from its first bytes (the encoding is checked on the
    whole file when it is read: `scan_text`)."""
    if not head.strip():
        raise NotATableError("the file is empty")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"  # the byte-order mark says which byte order
        head = head[: len(head) - len(head) % 2]
    elif head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        sample = head[:4096]
        if b"\x00" in sample:
            if _looks_utf16(sample):
                raise NotATableError("the file looks like UTF-16 text without a byte-order mark",
                                     "save it as CSV UTF-8 and import that")
            # control bytes text never has; a stray NUL in a text table is named by its line later
            if len(_BINARY_BYTES.findall(sample)) > max(1, len(sample) // 100):
                raise NotATableError("the file is not a text table (it contains binary data); export it as CSV, "
                                     "Excel or Parquet")
        try:
            # a multi-byte character may be cut at the end of the sample
            head.decode("utf-8") if len(head) < SNIFF_BYTES else head[:-4].decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    text = head.decode(encoding, errors="replace")
    if len(head) >= SNIFF_BYTES and "\n" not in text and "\r" not in text:
        raise NotATableError(f"the first line (the header) is longer than {SNIFF_BYTES >> 20} MB",
                             "check that the file is a table with a header line; a quote (\") that is never "
                             "closed makes the whole file one line")
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not lines:
        raise NotATableError("the file is empty")
    if not text.splitlines()[0].strip():  # line numbers count from the header's line 1
        raise NotATableError("line 1 is blank: the header must be the first line", "delete the blank lines above the header")
    first = lines[0]

    # the delimiter that splits the header most and gives the data rows the same field count
    def score(d: str) -> tuple[bool, int]:
        try:
            rows = list(csv.reader(lines[:20], delimiter=d))
        except csv.Error:  # a value over the field limit: judged on the header alone
            rows = [next(csv.reader([first], delimiter=d), [])] if len(first) < FIELD_LIMIT else [[]]
        n = len(rows[0])
        consistent = sum(1 for r in rows[1:] if len(r) == n)
        return (n > 1 and consistent == len(rows) - 1, n)
    delimiter = max(DELIMITERS, key=lambda d: (score(d), first.count(d)))
    try:
        header = next(csv.reader([first], delimiter=delimiter))
    except csv.Error:
        raise NotATableError(f"line 1 (the header) has a column name longer than {FIELD_LIMIT:,} characters",
                             "check the header line: a quote (\") that is never closed makes one long name") from None
    header = [h.replace("\ufeff", "").strip() for h in header]
    if len(header) == 1 and not any(c.isalpha() for c in header[0]):
        raise NotATableError("the first line is not a header row")
    return TextLayout(encoding, delimiter, header)


# --------------------------------------------------------------------------- the whole file's encoding
@dataclass
class TextScan:
    encoding: str
    clean: bool              # every byte decodes and no NUL: the fast reader may read it
    note: str | None = None  # for the user, when the encoding is not the one the first megabyte suggested


def scan_text(stream: BinaryIO, layout: TextLayout) -> TextScan:
    """Decide the encoding once from the whole file (a stray Windows-1252 byte after the first
    megabyte must not reject a file, nor a mix of encodings be read half wrong).

    UTF-8 when every byte is UTF-8; Windows-1252 when no byte sequence is UTF-8 beyond ASCII but
    some byte is not UTF-8; a file that mixes both (or has a BOM and bytes that are not UTF-8) is
    read as UTF-8 and not clean: the lines with other bytes are errors. One pass in blocks; ASCII
    blocks cost a `bytes.isascii`.
    """
    stream.seek(0)
    blocks = iter(lambda: stream.read(SCAN_BLOCK_BYTES), b"")
    if layout.encoding == "utf-16":
        decoder = codecs.getincrementaldecoder("utf-16")("strict")
        clean = True
        try:
            for block in blocks:
                if "\x00" in decoder.decode(block):
                    clean = False
                    break
            else:
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            clean = False
        stream.seek(0)
        return TextScan("utf-16", clean)
    nul = invalid = multibyte = cp1252_undefined = False
    newlines, first_bad_line, carry = 0, None, b""
    for block in blocks:
        nul = nul or b"\x00" in block
        data, carry = carry + block, b""
        if not data.isascii():
            cp1252_undefined = cp1252_undefined or _CP1252_UNDEFINED.search(data) is not None
            try:
                data.decode("utf-8")
                multibyte = True
            except UnicodeDecodeError as exc:
                if exc.reason == "unexpected end of data" and exc.end == len(data):
                    carry, data = data[exc.start:], data[: exc.start]  # a character cut by the block's end
                    multibyte = multibyte or not data.isascii()
                else:
                    text = data.decode("utf-8", "surrogateescape")
                    invalid = True
                    multibyte = multibyte or _VALID_NON_ASCII.search(text) is not None
                    if first_bad_line is None:
                        first_bad_line = newlines + data.count(b"\n", 0, exc.start) + 1
        newlines += data.count(b"\n")
    if carry:  # the file ends inside a multi-byte character
        invalid = True
        first_bad_line = first_bad_line or newlines + 1
    stream.seek(0)
    if not invalid:
        return TextScan("utf-8-sig" if layout.encoding == "utf-8-sig" else "utf-8", not nul)
    if multibyte or layout.encoding == "utf-8-sig":
        return TextScan("utf-8-sig" if layout.encoding == "utf-8-sig" else "utf-8", False)
    note = None if layout.encoding == "cp1252" else (
        f"the file is not UTF-8 (first at text line {first_bad_line:,}): it was read as Windows-1252; "
        "save it as CSV UTF-8 if its accented letters look wrong")
    return TextScan("cp1252", not nul and not cp1252_undefined, note)


def spool(stream: BinaryIO) -> tuple[BinaryIO, str, int]:
    """A stream that cannot be read twice (a pipe, /dev/stdin) copied to a temporary file, with its
    sha256 and size: the reader reads a file twice (the encoding scan, then the rows)."""
    copy = tempfile.TemporaryFile()
    digest, size = hashlib.sha256(), 0
    for block in iter(lambda: stream.read(4 << 20), b""):
        copy.write(block)
        digest.update(block)
        size += len(block)
    copy.seek(0)
    return copy, digest.hexdigest(), size


def whole_lines(data: bytes, limit: int) -> bytes:
    """The first `limit` bytes of a text file cut after its last whole line (a preview never ends
    inside a character or a row)."""
    if len(data) <= limit:
        return data
    end = data.rfind(b"\n", 0, limit)
    return data[: end + 1] if end > 0 else data[:limit]


def _unique_names(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for h in header:
        name = h or "column"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        else:
            seen[name] = 0
        out.append(name)
    return out


# --------------------------------------------------------------------------- rows
def _frame(rows: list[list[str | None]], lines: list[int], names: list[str],
           problems: list[tuple[int, str | None, str | None, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=names, index=pd.Index(lines, dtype="int64"), dtype="object")
    if problems:
        frame.attrs[ROW_PROBLEMS] = problems
    return frame


def _all_missing(frame: pd.DataFrame) -> np.ndarray:
    """Rows with no value at all (blank lines, ",,,"), column by column (a frame's own isna is far slower)."""
    blank = np.ones(len(frame), dtype=bool)
    for j in range(frame.shape[1]):
        if not blank.any():
            break
        blank &= frame.iloc[:, j].isna().to_numpy()
    return blank


def _not_text_reason(char: str, encoding: str) -> str:
    if char == "\x00":
        return "contains a NUL byte (\\x00)"
    if char == "\ufffd" and encoding == "utf-16":
        return "has bytes that are not UTF-16 text (the file is cut mid-character or damaged)"
    byte = f"0x{ord(char) - 0xDC00:02X}"
    if encoding == "cp1252":
        return f"has a byte ({byte}) that is not Windows-1252 text"
    return f"has a byte ({byte}) that is not UTF-8, while the rest of the file is UTF-8"


def iter_csv_chunks(stream: BinaryIO, layout: TextLayout, *, block_bytes: int = 64 << 20,
                    warnings: list[str] | None = None, fallback_rows: int = 200_000) -> Iterator[pd.DataFrame]:
    """Stream a text table in chunks of text columns; memory stays bounded by the block size.

    The index of each chunk is the line number a spreadsheet shows (header = 1); blank lines are
    skipped (their numbers are kept). The encoding is decided on the whole file first
    (`scan_text`). pandas' C reader reads `block_bytes`-sized runs of rows (memory stays flat:
    Arrow's streaming reader was measured to grow with the file) until a row does not have the
    header's number of fields; from that row on, or for a file with bytes that are not text, the
    file is read with Python's csv module, which finds exactly which lines are wrong: more values
    than the header has columns (unless every extra value is blank: a trailing delimiter), a byte
    that is not text, a NUL, a value over the field limit, a quote never closed. Those rows are not
    in the frames; they arrive as problems (`frame.attrs[ROW_PROBLEMS]`). Short rows are padded.
    """
    if not stream.seekable():
        raise NotATableError("the input cannot be read twice (a pipe)", "save it to a file and import the file")
    names = _unique_names(layout.header)
    width = len(names)
    scan = scan_text(stream, layout)
    if scan.note and warnings is not None:
        warnings.append(scan.note)
    chunk_rows = max(16, block_bytes // 64)
    done = 0     # data rows already yielded
    spare = 0    # columns read past the header's: a trailing delimiter on every row is blank, not surplus
    while scan.clean:
        try:
            yield from _read_fast(stream, scan.encoding, layout.delimiter, names, spare, chunk_rows, done)
            return
        except _Stop as stop:
            stream.seek(0)
            done = stop.done
            wider = _EXPECTED.search(str(stop.__cause__ or ""))
            if not wider or spare or int(wider.group(1)) - width > MAX_SPARE_COLUMNS:
                break
            # a row with more fields: read again with room for them (rows already yielded are skipped);
            # the extra fields must be blank, else the exact reader names the rows
            spare = int(wider.group(1)) - width
    yield from _read_exactly(stream, scan, layout.delimiter, names, first_line=done + 2, fallback_rows=fallback_rows)


_EXPECTED = re.compile(r"Expected \d+ fields in line \d+, saw (\d+)")
MAX_SPARE_COLUMNS = 16


class _Stop(Exception):
    """The fast reader met a row it cannot read exactly; `done` data rows were yielded."""

    def __init__(self, done: int) -> None:
        super().__init__(done)
        self.done = done


def _read_fast(stream: BinaryIO, encoding: str, delimiter: str, names: list[str], spare: int, chunk_rows: int,
               skip: int) -> Iterator[pd.DataFrame]:
    """pandas' C reader, header line included: without names the header sets the width, so a longer
    row stops it (given names, pandas takes a long first row's leading fields as an index); with
    `spare` extra columns, rows may carry that many blank fields more. Raises _Stop."""
    width = len(names)
    position = 0  # data rows before the current chunk
    try:
        reader = pd.read_csv(stream, sep=delimiter, header=None, names=list(range(width + spare)) if spare else None,
                             index_col=False, dtype=object, keep_default_na=False, na_values=[""],
                             encoding=encoding, encoding_errors="strict", chunksize=chunk_rows, engine="c",
                             skip_blank_lines=False)
        with reader:
            header_row = True
            for frame in reader:
                if frame.shape[1] != width + spare:
                    raise pd.errors.ParserError("the header's width differs")
                if header_row:
                    frame, header_row = frame.iloc[1:], False
                if spare:
                    extra = frame.iloc[:, width:]
                    filled = ~_all_missing(extra)
                    if filled.any() and extra[filled].map(lambda v: isinstance(v, str) and v.strip() != "").any(axis=None):
                        raise pd.errors.ParserError("a row has more values than the header")
                    frame = frame.iloc[:, :width]
                frame.columns = names
                frame.index = pd.RangeIndex(position + 2, position + 2 + len(frame))
                start, position = position, position + len(frame)
                if position <= skip:
                    continue
                if start < skip:
                    frame = frame.iloc[skip - start:]
                blank = _all_missing(frame)
                if blank.any():
                    frame = frame[~blank]
                if len(frame):
                    yield frame
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise _Stop(max(skip, position)) from exc


def _read_exactly(stream: BinaryIO, scan: TextScan, delimiter: str, names: list[str], *, first_line: int,
                  fallback_rows: int) -> Iterator[pd.DataFrame]:
    """Python's csv reader from `first_line` on: every row either in a frame or named as a problem."""
    # bytes that are not text stay visible: as lone surrogates (UTF-8, Windows-1252) or U+FFFD (UTF-16,
    # whose damage can be in any byte), so the rows holding them are named
    utf16 = scan.encoding == "utf-16"
    text = io.TextIOWrapper(stream, encoding=scan.encoding,
                            errors="strict" if scan.clean else "replace" if utf16 else "surrogateescape", newline="")
    not_text = _NOT_TEXT_UTF16 if utf16 else _NOT_TEXT
    consumed: list[str] = []

    def remember(lines: Iterator[str]) -> Iterator[str]:
        for raw_line in lines:
            consumed.append(raw_line)
            yield raw_line

    rows = csv.reader(remember(text), delimiter=delimiter)
    width = len(names)
    buffer: list[list[str | None]] = []
    buffer_lines: list[int] = []
    problems: list[tuple[int, str | None, str | None, str]] = []
    line = 0
    last: tuple[int, list[str], str] | None = None
    while True:
        try:
            record = next(rows)
        except StopIteration:
            break
        except csv.Error:  # non-strict csv raises only for a value over the field limit: stop there
            problems.append((line + 1, None, None, f"has a value longer than {FIELD_LIMIT:,} characters"))
            last = None
            break
        except UnicodeDecodeError as exc:  # the scan said the file decodes: it changed while being read
            problems.append((line + 1, None, None, _not_text_reason(chr(0xDC00 + exc.object[exc.start]), scan.encoding)))
            last = None
            break
        raw = "".join(consumed)
        consumed.clear()
        line += 1
        if line < first_line or not any(f.strip() for f in record):
            continue  # the header, rows already read, blank lines
        if not scan.clean and (bad := not_text.search(raw)):
            at = next((i for i, f in enumerate(record) if not_text.search(f)), None)
            column = names[at] if at is not None and at < width else None
            problems.append((line, column, record[at] if at is not None else raw.rstrip("\r\n"),
                             _not_text_reason(bad.group(), scan.encoding)))
            continue
        if len(record) > width:
            if any(f.strip() for f in record[width:]):
                problems.append((line, None, raw.rstrip("\r\n"), f"has more values than the header has columns "
                                 f"({len(record)} values, {width} columns)"))
                continue
            record = record[:width]  # a trailing delimiter: the extra fields are blank
        elif len(record) < width:
            record = record + [""] * (width - len(record))
        buffer.append([v if v != "" else None for v in record])
        buffer_lines.append(line)
        last = (line, record, raw)
        if len(buffer) >= fallback_rows:
            yield _frame(buffer, buffer_lines, names, problems)
            buffer, buffer_lines, problems = [], [], []
    if last is not None and buffer_lines and buffer_lines[-1] == last[0]:
        at_line, record, raw = last
        # a quote never closed swallows the rest of the file into the last row's value
        if raw.count('"') % 2 and any("\n" in f or "\r" in f for f in record):
            buffer.pop()
            buffer_lines.pop()
            problems.append((at_line, None, raw.rstrip("\r\n"),
                             'opens a quote (") that is never closed: the rest of the file was read as one value'))
    text.detach()  # the caller owns the stream
    if buffer or problems:
        yield _frame(buffer, buffer_lines, names, problems)


# --------------------------------------------------------------------------- zip archives
# A zip (an upload of several files, a OneRoster or LearnPlatform export, an .xlsx workbook) can
# declare and hold far more than its own size: 1 MB of deflate expands to 1 GB. Every archive is
# checked before anything is kept: the sizes its directory declares (each member, the total, the
# compression ratio), then the bytes it actually inflates to, streamed and counted in blocks and
# thrown away (a forged directory that under-declares a member stops at the declared size, where
# the CRC no longer matches, or at the limit). Only then are members read for keeping.
MB = 1 << 20
ZIP_MAX_RATIO = 100                 # uncompressed : compressed; a bigger ratio on a big member is a bomb
ZIP_RATIO_FLOOR_BYTES = 10 * MB     # small members may compress better (a column of one repeated value)
ZIP_MAX_MEMBERS = 10_000
ZIP_READ_BLOCK = 1 * MB
PARQUET_BATCH_ROWS = 8_192
# bzip2 and lzma members inflate a whole read at once in zipfile (no output bound): refused
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
ZIP_FIX = ("unzip it and import its files one by one from the command line (python -m edtech import KIND FILE "
           "streams a CSV of any size), or raise EDTECH_UPLOAD_LIMIT_MB if the archive is genuine")
WORKBOOK_FIX = "export the sheet as CSV and import that (CSV files stream with no size limit from the command line)"


class ArchiveRefused(NotATableError):
    """A zip or workbook refused before it could take much memory (a normal import error, with its fix)."""

    def __init__(self, reason: str, fix: str = ZIP_FIX, file_name: str = "") -> None:
        super().__init__(reason)
        self.reason, self.fix, self.file_name = reason, fix, file_name


def archive_limit_bytes() -> int:
    """Most an archive may inflate to, all members together: the upload limit (EDTECH_UPLOAD_LIMIT_MB)."""
    return config.UPLOAD_LIMIT_MB * MB


def _mb(n: int) -> str:
    return f"{n / MB:,.1f} MB" if n < 10 * MB else f"{n / MB:,.0f} MB"


def _check_declared(infos: list[zipfile.ZipInfo], limit: int, fix: str, name: str) -> None:
    """Refuse on what the zip's directory says, before inflating a byte."""
    if len(infos) > ZIP_MAX_MEMBERS:
        raise ArchiveRefused(f"the archive holds {len(infos):,} files, more than {ZIP_MAX_MEMBERS:,}", fix, name)
    total = 0
    for info in infos:
        member = info.filename
        if info.flag_bits & 0x1:
            raise ArchiveRefused(f"{member} is encrypted", "zip the files again without a password", name)
        if info.compress_type not in ZIP_METHODS:
            raise ArchiveRefused(f"{member} is compressed with method {info.compress_type}; only standard (deflate) "
                                 "or stored zips are read", "zip the files again with standard compression", name)
        size, packed = info.file_size, max(info.compress_size, 1)
        if size > ZIP_RATIO_FLOOR_BYTES and size > ZIP_MAX_RATIO * packed:
            raise ArchiveRefused(f"{member} would expand {size / packed:,.0f} times, from {_mb(packed)} to {_mb(size)} "
                                 f"(more than {ZIP_MAX_RATIO}:1): refused as a likely zip bomb", fix, name)
        total += size
        if size > limit or total > limit:
            raise ArchiveRefused(f"the archive would expand to {_mb(total)} or more, over the limit of {_mb(limit)}",
                                 fix, name)


def _check_inflated(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limit: int, fix: str, name: str) -> None:
    """Inflate every member in blocks that are counted and dropped; stop at the first byte past a member's
    declared size or the limit, or at a damaged member (a forged size makes its CRC fail)."""
    total = 0
    for info in infos:
        seen = 0
        try:
            with zf.open(info) as stream:
                while block := stream.read(ZIP_READ_BLOCK):
                    seen += len(block)
                    total += len(block)
                    if seen > info.file_size or total > limit:
                        raise ArchiveRefused(f"{info.filename} inflates to more than its directory declares "
                                             f"({_mb(info.file_size)}) or than the limit of {_mb(limit)}", fix, name)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
            raise ArchiveRefused(f"{info.filename} is damaged or its sizes are forged ({exc})",
                                 "re-create the zip from the original files", name) from None
        if seen != info.file_size:
            raise ArchiveRefused(f"{info.filename} inflates to {_mb(seen)}, not the {_mb(info.file_size)} its "
                                 "directory declares", "re-create the zip from the original files", name)


def open_checked_zip(data: bytes, *, name: str = "", wanted: Callable[[zipfile.ZipInfo], bool] | None = None,
                     fix: str = ZIP_FIX, limit: int | None = None) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """The open archive and its `wanted` members, once declared and actual sizes passed (else ArchiveRefused)."""
    limit = archive_limit_bytes() if limit is None else limit
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveRefused(f"not a readable zip archive ({exc})", "re-create the zip from the original files",
                             name) from None
    try:
        infos = [i for i in zf.infolist() if not i.is_dir() and (wanted is None or wanted(i))]
        _check_declared(infos, limit, fix, name)
        _check_inflated(zf, infos, limit, fix, name)
    except BaseException:
        zf.close()
        raise
    return zf, infos


def read_zip_members(data: bytes, *, name: str = "", wanted: Callable[[zipfile.ZipInfo], bool] | None = None,
                     limit: int | None = None) -> list[tuple[str, bytes]]:
    """(member name, content) of each `wanted` file of a zip, after `open_checked_zip`'s checks."""
    zf, infos = open_checked_zip(data, name=name, wanted=wanted, limit=limit)
    with zf:
        return [(info.filename, zf.read(info)) for info in infos]


def check_workbook(data: bytes, name: str = "") -> None:
    """An .xlsx is a zip: the same checks before openpyxl inflates it (ArchiveRefused)."""
    zf, _ = open_checked_zip(data, name=name, fix=WORKBOOK_FIX)
    zf.close()


def read_excel_bytes(data: bytes, sheet: str | None = None, warnings: list[str] | None = None) -> pd.DataFrame:
    """A sheet as text columns; `warnings` hears of formula cells that were read blank."""
    check_workbook(data)
    try:
        frame = pd.read_excel(io.BytesIO(data), sheet_name=sheet or 0, dtype=str, engine="openpyxl")
    except zipfile.BadZipFile as exc:
        raise ArchiveRefused(f"the workbook is damaged ({exc})", WORKBOOK_FIX) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if warnings is not None:
        warnings.extend(formula_cells_without_values(data, sheet))
    return frame.astype("object").where(frame.notna(), None)


def formula_cells_without_values(data: bytes, sheet: str | None = None, shown: int = 5) -> list[str]:
    """One warning per column whose formula cells hold no saved result (a workbook written by a
    program, never opened and saved in Excel): pandas reads them as blank."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        sheets = [n for n in zf.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        if not any(b"<f" in zf.read(n) for n in sheets):
            return []  # no formula anywhere: nothing to check
    import openpyxl

    formulas = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    results = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        with_f = formulas[sheet] if sheet else formulas.worksheets[0]
        with_v = results[sheet] if sheet else results.worksheets[0]
        headers: dict[int, str] = {}
        missing: dict[str, list[str]] = {}
        for row_f, row_v in zip(with_f.iter_rows(), with_v.iter_rows(), strict=False):
            for cell_f, cell_v in zip(row_f, row_v, strict=False):
                if getattr(cell_f, "row", None) == 1:
                    headers[cell_f.column] = str(cell_f.value)
                elif cell_f.data_type == "f" and cell_v.value is None:
                    column = headers.get(cell_f.column, cell_f.column_letter)
                    missing.setdefault(column, []).append(cell_f.coordinate)
    finally:
        formulas.close()
        results.close()
    return [f"{len(cells)} cell(s) of column '{column}' ({', '.join(cells[:shown])}{', …' if len(cells) > shown else ''}) "
            "hold formulas with no saved result and were read as blank: open the workbook in Excel, let it "
            "calculate, save it and import it again" for column, cells in missing.items()]


def check_parquet(data: bytes, name: str = "") -> None:
    """A Parquet file expands like a zip (compression, dictionary and run-length encoding): the same
    ratio and limit, on the size its metadata declares and then on the columns it decodes to, batch by
    batch, counted and dropped (ArchiveRefused)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    limit = archive_limit_bytes()
    budget = min(limit, max(ZIP_RATIO_FLOOR_BYTES, ZIP_MAX_RATIO * len(data)))
    fix = "split the file, or export it as CSV (CSV files stream with no size limit from the command line)"
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        meta = parquet.metadata
        declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if declared > budget:
            raise ArchiveRefused(f"the Parquet file would expand from {_mb(len(data))} to {_mb(declared)} or more "
                                 f"(over {_mb(budget)}): refused", fix, name)
        decoded = 0
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            decoded += batch.nbytes
            if decoded > budget:
                raise ArchiveRefused(f"the Parquet file decodes to more than {_mb(budget)} from {_mb(len(data))}: "
                                     "refused", fix, name)
    except (pa.ArrowException, OSError) as exc:
        raise NotATableError(f"not a readable Parquet file ({exc})") from None


def read_parquet_bytes(data: bytes) -> pd.DataFrame:
    check_parquet(data)
    frame = pd.read_parquet(io.BytesIO(data))
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            text = s.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_float_dtype(s):
            # 12.0 -> "12" so integer columns stay integers
            text = s.map(lambda v: None if pd.isna(v) else (str(int(v)) if float(v).is_integer() else repr(float(v))))
        else:
            text = s.map(lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))
        out[str(col)] = text
    return out


def read_table_bytes(name: str, data: bytes, sheet: str | None = None,
                     warnings: list[str] | None = None) -> pd.DataFrame:
    """Whole table from bytes (uploads, small files), as text columns (index: spreadsheet lines).

    A row the reader cannot split (see `iter_csv_chunks`) refuses the table, naming its lines."""
    fmt = detect_format(name, data[:4096])
    if fmt == "parquet":
        return read_parquet_bytes(data)
    if fmt == "xlsx":
        return read_excel_bytes(data, sheet, warnings)
    refuse_unsupported(fmt)
    if fmt == "zip":
        raise NotATableError("this is a zip archive: upload it as a set of files")
    layout = sniff_text(data[:SNIFF_BYTES])
    chunks = list(iter_csv_chunks(io.BytesIO(data), layout, warnings=warnings))
    problems = [p for chunk in chunks for p in chunk.attrs.pop(ROW_PROBLEMS, [])]
    if problems:
        shown = "; ".join(f"line {line}: {reason}" for line, _, _, reason in problems[:3])
        more = f"; and {len(problems) - 3:,} more line(s)" if len(problems) > 3 else ""
        raise NotATableError(f"{name}: {shown}{more}", "correct those lines (quote values that contain the "
                             "delimiter; save the file as CSV UTF-8) and import it again")
    chunks = [c for c in chunks if len(c)]
    if not chunks:
        return pd.DataFrame({h: pd.Series(dtype="object") for h in _unique_names(layout.header)})
    return pd.concat(chunks)
