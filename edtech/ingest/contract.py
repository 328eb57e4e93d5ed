"""The data contract (shared/spec/data-contract.md) as data: tables, columns, aliases, types, keys.

The file-facing view of `edtech.core.schema`, where every table is declared once: the specs
below are generated from it (how a table is stored is the schema's business, not the importer's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edtech.core import schema
from edtech.core.schema import BOOL, DATE, ENUM, GRADE, ID, INT, MONEY, NUMBER, PERCENT, TEXT


@dataclass(frozen=True)
class Column:
    name: str
    type: str = TEXT
    required: bool = False
    aliases: tuple[str, ...] = ()
    min: float | None = None           # inclusive lower bound
    min_exclusive: bool = False
    max: float | None = None
    choices: tuple[str, ...] = ()      # for ENUM
    references: str | None = None      # table whose key this column must match


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    keep_extra: bool = False           # unknown columns kept (students, indicators)
    order: int = 0                     # import order inside a multi-file upload
    extra_types: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def contract_table(decl: schema.TableDecl) -> Table:
    """A table's file-facing spec, from its schema declaration."""
    columns = tuple(Column(c.name, c.type, c.required, c.aliases, min=c.min, min_exclusive=c.min_exclusive,
                           max=c.max, choices=c.choices, references=c.references) for c in decl.columns)
    return Table(decl.name, decl.key, columns, keep_extra=decl.keep_extra, order=decl.order)


TABLES: dict[str, Table] = {name: contract_table(decl) for name, decl in schema.TABLES.items()}

KINDS = tuple(TABLES)


def normalize_header(name: object) -> str:
    """Case-insensitive, trimmed, spaces/hyphens/slashes -> `_` (contract rule)."""
    s = str(name).replace("\ufeff", "").strip().lower()
    s = re.sub(r"[\s\-/]+", "_", s)
    return s


def map_columns(headers: list[str], table: Table) -> tuple[dict[str, str], list[str]]:
    """Map the file's headers to contract columns.

    Returns ({file header: contract column}, unknown headers). The canonical name wins over an
    alias when both are present; the first of several aliases wins.
    """
    lookup: dict[str, str] = {}
    for col in table.columns:
        lookup.setdefault(col.name, col.name)
    for col in table.columns:
        for alias in col.aliases:
            lookup.setdefault(alias, col.name)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    unknown: list[str] = []
    normalized = [(h, normalize_header(h)) for h in headers]
    # exact names first so that an alias never steals a column the file names canonically
    for h, n in normalized:
        if n in table.column_names and n not in taken:
            mapping[h], _ = n, taken.add(n)
    for h, n in normalized:
        if h in mapping:
            continue
        target = lookup.get(n)
        if target and target not in taken:
            mapping[h], _ = target, taken.add(target)
        else:
            unknown.append(h)
    return mapping, unknown


def guess_kind(headers: list[str]) -> str | None:
    """Best table for a set of headers (for `import auto` and multi-file uploads)."""
    best, best_score = None, 0.0
    for table in TABLES.values():
        mapping, _ = map_columns(headers, table)
        mapped = set(mapping.values())
        required = [c.name for c in table.columns if c.required]
        if not all(r in mapped for r in required):
            continue
        score = len(mapped) / max(len(headers), 1) + 0.01 * len(mapped)
        if score > best_score:
            best, best_score = table.name, score
    return best


def describe_table(kind: str) -> list[dict[str, str]]:
    """One row per column: what the Data page shows as the file format for a table."""
    table = TABLES[kind]
    rows = []
    for col in table.columns:
        rule = {ENUM: "one of " + ", ".join(col.choices), PERCENT: "share 0-1 or percent 0-100",
                MONEY: "amount ($ and thousands separators allowed)", DATE: "YYYY-MM-DD or MM/DD/YYYY",
                BOOL: "yes/no, true/false, y/n, 1/0", GRADE: "PK, K, 1-12", ID: "text ID (leading zeros kept)",
                INT: "whole number", NUMBER: "number"}.get(col.type, "text")
        if col.references:
            rule += f"; must exist in {col.references}"
        rows.append({"column": col.name, "required": "yes" if col.required else "", "format": rule,
                     "also accepted as": ", ".join(col.aliases)})
    if table.keep_extra:
        rows.append({"column": "(any other column)", "required": "", "format": "kept as a candidate feature",
                     "also accepted as": ""})
    return rows


def template_csv(kind: str) -> str:
    """A header-only CSV for a table (the Data page's download)."""
    return ",".join(c.name for c in TABLES[kind].columns) + "\n"
