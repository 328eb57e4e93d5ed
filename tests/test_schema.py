"""The schema is declared once (edtech.core.schema): the contract specs and the canonical frames are
generated from it, and the SQLModel tables of edtech.store.models are checked against it here."""

from __future__ import annotations

from dataclasses import fields

import pandas as pd
import pytest
import sqlalchemy as sa

from edtech.core import schema
from edtech.core.district import FRAME_COLUMNS, conform_frame, empty_frame
from edtech.ingest import contract as ct
from edtech.store import models

DECLS = list(schema.TABLES.values())

# SQL column types that can hold each logical type
SQL_TYPES: dict[str, type[sa.types.TypeEngine]] = {
    schema.TEXT: sa.String, schema.ID: sa.String, schema.GRADE: sa.String, schema.ENUM: sa.String,
    schema.INT: sa.Integer, schema.NUMBER: sa.Float, schema.MONEY: sa.Float, schema.PERCENT: sa.Float,
    schema.BOOL: sa.Boolean, schema.DATE: sa.Date,
}


def sql_type(column: sa.Column) -> sa.types.TypeEngine:
    """The column's SQL type, unwrapped from a decorator (SQLModel's AutoString wraps String)."""
    t = column.type
    return t.impl_instance if isinstance(t, sa.types.TypeDecorator) else t


def mismatches(decl: schema.TableDecl, table: sa.Table) -> list[str]:
    """Every way a database table disagrees with its declaration (empty = they agree)."""
    found: list[str] = []
    expected = set(decl.stored_columns) | ({schema.EXTRA_COLUMN} if decl.keep_extra else set())
    actual = {c.name for c in table.columns}
    found += [f"{decl.name}.{name}: declared, not in the model" for name in sorted(expected - actual)]
    found += [f"{decl.name}.{name}: in the model, not declared" for name in sorted(actual - expected)]
    for name, col in decl.stored_columns.items():
        if name not in table.columns:
            continue
        sql = table.columns[name]
        if not isinstance(sql_type(sql), SQL_TYPES[col.type]):
            found.append(f"{decl.name}.{name}: {col.type} stored as {sql_type(sql)!r}")
        if sql.nullable != col.stored_nullable:
            found.append(f"{decl.name}.{name}: nullable is {sql.nullable}, declared {col.stored_nullable}")
        if col.blank_key and getattr(sql.default, "arg", None) != "":
            found.append(f"{decl.name}.{name}: a blank key part needs the default ''")
    if decl.keep_extra and schema.EXTRA_COLUMN in table.columns and not isinstance(
            sql_type(table.columns[schema.EXTRA_COLUMN]), sa.JSON):
        found.append(f"{decl.name}.{schema.EXTRA_COLUMN}: not a JSON column")
    primary_key = tuple(c.name for c in table.primary_key.columns)
    if primary_key != decl.stored_key:
        found.append(f"{decl.name}: primary key {primary_key}, natural key {decl.stored_key}")
    return found


# ------------------------------------------------------------------ the declaration is coherent
def test_every_surface_has_the_same_tables() -> None:
    assert list(ct.TABLES) == list(schema.TABLES) == list(FRAME_COLUMNS)
    assert set(models.TABLE_MODELS) == set(schema.TABLES)
    assert all(model.__tablename__ == name for name, model in models.TABLE_MODELS.items())


@pytest.mark.parametrize("decl", DECLS, ids=lambda d: d.name)
def test_declaration_is_coherent(decl: schema.TableDecl) -> None:
    names = decl.column_names
    assert len(set(names)) == len(names)
    assert len(set(decl.stored_columns)) == len(decl.columns) + len(decl.stored_only), "two columns stored alike"
    assert set(decl.key) <= set(names)
    for col in decl.columns + decl.stored_only:
        assert col.type in schema.LOGICAL_TYPES, col
        assert bool(col.choices) == (col.type == schema.ENUM), col
        assert col.min is None or col.max is None or col.min <= col.max, col
        if col.references:
            target = schema.TABLES[col.references]  # KeyError = a reference to no table
            assert target.key == (col.name,), f"{decl.name}.{col.name} cannot match {target.name}'s key"
    for key in decl.key:
        col = decl.column(key)
        # a primary key part can never be NULL: required, stored as '', or filled by the importer
        assert not col.stored_nullable, f"{decl.name}.{key} is an optional key part with no stored value"
    for col in decl.columns:
        if col.blank_key:
            assert col.name in decl.key and not col.required, col
    # an alias never names another column, and one spelling never means two columns
    spellings = [s for col in decl.columns for s in (col.name, *col.aliases)]
    assert len(set(spellings)) == len(spellings), [s for s in spellings if spellings.count(s) > 1]


# ------------------------------------------------------------------ generated: contract specs and frames
@pytest.mark.parametrize("decl", DECLS, ids=lambda d: d.name)
def test_contract_specs_are_generated_from_the_declaration(decl: schema.TableDecl) -> None:
    spec = ct.TABLES[decl.name]
    assert spec.column_names == decl.column_names
    assert (spec.key, spec.keep_extra, spec.order) == (decl.key, decl.keep_extra, decl.order)
    for spec_col, col in zip(spec.columns, decl.columns, strict=True):
        # every rule the importer applies comes from the declaration, field by field
        for f in fields(ct.Column):
            assert getattr(spec_col, f.name) == getattr(col, f.name), (decl.name, col.name, f.name)
    assert ct.template_csv(decl.name).strip().split(",") == decl.column_names


@pytest.mark.parametrize("decl", DECLS, ids=lambda d: d.name)
def test_frame_columns_are_generated_from_the_declaration(decl: schema.TableDecl) -> None:
    frame = FRAME_COLUMNS[decl.name]
    assert list(frame) == [c.stored_name for c in decl.columns]  # stored names, contract order
    assert list(frame.values()) == [c.frame_dtype for c in decl.columns]
    assert schema.EXTRA_COLUMN not in frame and not set(frame) & {c.name for c in decl.stored_only}
    assert [str(t) for t in empty_frame(decl.name).dtypes] == list(frame.values())


def test_frame_dtypes_follow_the_logical_types() -> None:
    kinds = {(c.type, c.stored_nullable): c.frame_dtype for d in DECLS for c in d.columns}
    assert kinds[(schema.INT, True)] == "Int64" and kinds[(schema.INT, False)] == "int64"
    assert {kinds[(t, True)] for t in (schema.TEXT, schema.ID, schema.ENUM)} == {"object"}
    assert kinds[(schema.GRADE, False)] == "object" and kinds[(schema.DATE, True)] == "datetime64[ns]"
    assert {kinds[(t, True)] for t in (schema.NUMBER, schema.MONEY, schema.PERCENT)} == {"float64"}
    assert kinds[(schema.BOOL, True)] == "boolean"
    # the stored-as and blank-key declarations are what the frame shows
    assert "week_start" in FRAME_COLUMNS["usage"] and "date" not in FRAME_COLUMNS["usage"]
    assert FRAME_COLUMNS["licenses"]["school_id"] == "object"  # '' comes back as None
    assert FRAME_COLUMNS["usage"]["sessions"] == "int64"  # filled by the importer, never missing


def test_a_frame_conforms_to_the_generated_dtypes() -> None:
    raw = pd.DataFrame({"tool_id": ["T1"], "school_id": [None], "seats": [30.0], "annual_cost": ["100.5"],
                        "start_date": ["2025-07-01"], "end_date": ["2026-06-30"], "note": ["kept"]})
    frame = conform_frame("licenses", raw)
    assert list(frame.columns) == [*FRAME_COLUMNS["licenses"], "note"]
    assert {c: str(t) for c, t in frame.dtypes.items() if c != "note"} == FRAME_COLUMNS["licenses"]
    assert frame.loc[0, "school_id"] is None and frame.loc[0, "seats"] == 30


# ------------------------------------------------------------------ the SQLModel tables agree
@pytest.mark.parametrize("decl", DECLS, ids=lambda d: d.name)
def test_sqlmodel_table_matches_the_declaration(decl: schema.TableDecl) -> None:
    assert mismatches(decl, models.TABLE_MODELS[decl.name].__table__) == []


def test_blank_key_columns_of_the_store_are_the_declared_ones() -> None:
    declared = {d.name: d.blank_key_columns for d in DECLS if d.blank_key_columns}
    assert models.BLANK_KEY_COLUMNS == declared


def test_the_model_check_catches_each_kind_of_disagreement() -> None:
    """A licenses table that is wrong in every way the check looks at."""
    broken = sa.Table(
        "licenses", sa.MetaData(),
        sa.Column("tool_id", sa.String, primary_key=True),
        sa.Column("school_id", sa.String, primary_key=True),  # no '' default
        sa.Column("start_date", sa.DateTime, nullable=False),  # not a date, not in the key
        sa.Column("seats", sa.Float, nullable=False),           # an integer stored as float
        sa.Column("annual_cost", sa.Float, nullable=True),      # required yet nullable
        sa.Column("end_date", sa.Date, nullable=False),
        *[sa.Column(c.name, SQL_TYPES[c.type]) for c in schema.TABLES["licenses"].columns[6:-1]],
        sa.Column("notes", sa.Text),                            # not declared; internal_cost missing
    )
    found = "\n".join(mismatches(schema.TABLES["licenses"], broken))
    for expected in ("internal_cost: declared, not in the model", "notes: in the model, not declared",
                     "start_date: date stored as", "seats: int stored as", "annual_cost: nullable is True",
                     "school_id: a blank key part needs the default ''", "primary key ('tool_id', 'school_id')"):
        assert expected in found, (expected, found)


def test_declared_storage_differences_are_the_known_ones() -> None:
    """Where the store differs from the contract, the declaration says so (and nowhere else)."""
    stored_as = {(d.name, c.name): c.stored_as for d in DECLS for c in d.columns if c.stored_as}
    assert stored_as == {("usage", "date"): "week_start"}
    assert schema.TABLES["usage"].stored_key == ("student_id", "tool_id", "week_start")
    assert {d.name for d in DECLS if d.keep_extra} == {"students", "indicators"}
    assert {(d.name, c.name) for d in DECLS for c in d.stored_only} == {("usage_aggregate", "range_text")} | {
        ("usage", f"{kind}{day}") for kind in "ms" for day in range(7)}   # usage's days (usage_days)
    defaults = {(d.name, c.name) for d in DECLS for c in d.columns if c.import_default}
    assert defaults == {("usage", "sessions"), ("indicators", "as_of")}
