"""Turn uploaded bytes into DataFrames of text, whatever the export looks like.

Everything is read as text so that IDs keep their leading zeros; typing happens in
`edtech.parsing` under the contract's rules. Nothing here opens a path: callers pass bytes
or an open binary file (edtech.data does the file I/O).
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pandas as pd

from edtech.core import config

DELIMITERS = (",", ";", "\t", "|")
SNIFF_BYTES = 1 << 20


class NotATableError(ValueError):
    """The content cannot be read as a table at all (binary, empty, unknown format)."""


@dataclass
class TextLayout:
    encoding: str       # utf-8, utf-8-sig or cp1252
    delimiter: str
    header: list[str]


def detect_format(name: str, head: bytes) -> str:
    """csv, xlsx or parquet, from the content first and the name second."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "xlsx" if name.lower().endswith((".xlsx", ".xlsm")) or b"xl/" in head[:2000] else "zip"
    return "csv"


def sniff_text(head: bytes) -> TextLayout:
    """Encoding and delimiter of a text table from its first bytes."""
    if not head.strip():
        raise NotATableError("the file is empty")
    if b"\x00" in head[:4096]:
        raise NotATableError("the file is not a text table (it contains binary data); export it as CSV, Excel or Parquet")
    if head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        try:
            # a multi-byte character may be cut at the end of the sample
            head.decode("utf-8") if len(head) < SNIFF_BYTES else head[:-4].decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    text = head.decode(encoding, errors="replace")
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not lines:
        raise NotATableError("the file is empty")
    first = lines[0]
    # the delimiter that splits the header most and gives the data rows the same field count
    def score(d: str) -> tuple[int, int]:
        rows = list(csv.reader(lines[:20], delimiter=d))
        n = len(rows[0])
        consistent = sum(1 for r in rows[1:] if len(r) == n)
        return (n > 1 and consistent == len(rows) - 1, n)
    delimiter = max(DELIMITERS, key=lambda d: (score(d), first.count(d)))
    header = next(csv.reader([first], delimiter=delimiter))
    header = [h.replace("\ufeff", "").strip() for h in header]
    if len(header) == 1 and not any(c.isalpha() for c in header[0]):
        raise NotATableError("the first line is not a header row")
    return TextLayout(encoding, delimiter, header)


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


def iter_csv_chunks(stream: BinaryIO, layout: TextLayout, *, block_bytes: int = 64 << 20,
                    warnings: list[str] | None = None, fallback_rows: int = 200_000) -> Iterator[pd.DataFrame]:
    """Stream a text table in chunks of text columns; memory stays bounded by the block size.

    The index of each chunk is the line number a spreadsheet shows (header = 1). pandas' C
    reader reads `block_bytes`-sized runs of rows (memory stays flat: Arrow's streaming reader
    was measured to grow with the file) until a row has the wrong number of fields; from that
    row on the file is read with Python's csv module, which pads short rows and joins the
    surplus fields of long rows into the last column (an unquoted delimiter inside a text
    value), with a warning.
    """
    names = _unique_names(layout.header)
    chunk_rows = max(16, block_bytes // 64)
    done = 0
    try:
        # one spare column: a row with a surplus field lands there instead of silently becoming an index
        spare = "\x00surplus"
        reader = pd.read_csv(stream, sep=layout.delimiter, header=None, skiprows=1, names=[*names, spare], dtype=object,
                             keep_default_na=False, na_values=[""], encoding=layout.encoding,
                             encoding_errors="strict", chunksize=chunk_rows, engine="c", skip_blank_lines=False)
        with reader:
            for frame in reader:
                if frame[spare].notna().any():
                    raise pd.errors.ParserError("Expected fewer fields")  # read the rest exactly, below
                frame = frame.drop(columns=spare)
                if len(frame):
                    frame.index = pd.RangeIndex(done + 2, done + 2 + len(frame))
                    done += len(frame)
                    yield frame
        return
    except pd.errors.ParserError as exc:
        if "Expected" not in str(exc):
            raise NotATableError(f"the file cannot be read as a {layout.delimiter!r}-separated table: {exc}") from None
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=layout.encoding, errors="strict", newline="")
    consumed: list[str] = []

    def remember(lines: Iterator[str]) -> Iterator[str]:
        for raw_line in lines:
            consumed.append(raw_line)
            yield raw_line

    rows = csv.reader(remember(text), delimiter=layout.delimiter)
    next(rows, None)  # header
    consumed.clear()
    width = len(names)
    buffer: list[list[str | None]] = []
    line = 1
    start = done + 2
    for record in rows:
        raw = "".join(consumed).rstrip("\r\n")
        consumed.clear()
        line += 1
        if line < done + 2:
            continue
        if len(record) > width:
            head = record[: width - 1]
            if not any('"' in f or layout.delimiter in f for f in head):
                # keep the text exactly as written, quotes included
                tail = raw.split(layout.delimiter, width - 1)[-1]
            else:
                tail = layout.delimiter.join(record[width - 1:])
            record = head + [tail]
            if warnings is not None:
                warnings.append(f"line {line} had more fields than the header; the extra fields were joined "
                                f"into '{names[-1]}' (quote values that contain '{layout.delimiter}')")
        elif len(record) < width:
            record = record + [""] * (width - len(record))
        buffer.append([v if v != "" else None for v in record])
        if len(buffer) >= fallback_rows:
            yield pd.DataFrame(buffer, columns=names, index=pd.RangeIndex(start, start + len(buffer)), dtype="object")
            start += len(buffer)
            buffer = []
    if buffer:
        yield pd.DataFrame(buffer, columns=names, index=pd.RangeIndex(start, start + len(buffer)), dtype="object")


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


def read_excel_bytes(data: bytes, sheet: str | None = None) -> pd.DataFrame:
    check_workbook(data)
    try:
        frame = pd.read_excel(io.BytesIO(data), sheet_name=sheet or 0, dtype=str, engine="openpyxl")
    except zipfile.BadZipFile as exc:
        raise ArchiveRefused(f"the workbook is damaged ({exc})", WORKBOOK_FIX) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.astype("object").where(frame.notna(), None)


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


def read_table_bytes(name: str, data: bytes, sheet: str | None = None) -> pd.DataFrame:
    """Whole table from bytes (uploads, small files), as text columns."""
    fmt = detect_format(name, data[:4096])
    if fmt == "parquet":
        return read_parquet_bytes(data)
    if fmt == "xlsx":
        return read_excel_bytes(data, sheet)
    if fmt == "zip":
        raise NotATableError("this is a zip archive: upload it as a set of files")
    layout = sniff_text(data[:SNIFF_BYTES])
    chunks = list(iter_csv_chunks(io.BytesIO(data), layout))
    if not chunks:
        return pd.DataFrame({h: pd.Series(dtype="object") for h in _unique_names(layout.header)})
    return pd.concat(chunks)
