"""Turn uploaded bytes into DataFrames of text, whatever the export looks like.

Everything is read as text so that IDs keep their leading zeros; typing happens in
`edtech.parsing` under the contract's rules. Nothing here opens a path: callers pass bytes
or an open binary file (edtech.data does the file I/O).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pandas as pd

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


def read_excel_bytes(data: bytes, sheet: str | None = None) -> pd.DataFrame:
    frame = pd.read_excel(io.BytesIO(data), sheet_name=sheet or 0, dtype=str, engine="openpyxl")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.astype("object").where(frame.notna(), None)


def read_parquet_bytes(data: bytes) -> pd.DataFrame:
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
