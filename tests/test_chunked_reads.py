"""Tables are read in chunks (bounded memory, issue 15): the frame equals what one read builds."""
from __future__ import annotations

import pandas as pd
import pytest

from edtech.store import data
from edtech.store.data import FRAME_COLUMNS


@pytest.fixture
def sample_engine(sample_db_url: str):
    engine = data.make_engine(sample_db_url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("kind", sorted(set(FRAME_COLUMNS) | {"licenses", "devices", "tools"}))
def test_a_table_read_in_small_chunks_equals_one_read(sample_engine, monkeypatch: pytest.MonkeyPatch,
                                                      kind: str) -> None:
    whole = data.read_table(sample_engine, kind)
    # 500 rows a chunk: columns blank in some chunks and filled in others, dates, numbers
    monkeypatch.setattr(data, "READ_CHUNK_ROWS", 500)
    chunked = data.read_table(sample_engine, kind)
    assert len(whole) == len(chunked)
    pd.testing.assert_frame_equal(chunked, whole)


def test_a_column_blank_in_the_first_chunk_and_text_later_is_text(engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a TEXT, b INTEGER, c TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES (NULL, NULL, 'x'), (NULL, 2, NULL), ('y', NULL, 'z')")
    one = data._read_sql(engine, "SELECT * FROM t ORDER BY rowid", chunk_rows=1_000)
    chunked = data._read_sql(engine, "SELECT * FROM t ORDER BY rowid", chunk_rows=1)
    pd.testing.assert_frame_equal(chunked, one)
    assert list(chunked["a"].isna()) == [True, True, False]


def test_an_empty_result_keeps_its_columns(engine) -> None:
    frame = data._read_sql(engine, "SELECT * FROM students")
    assert frame.empty and "student_id" in frame.columns


def _expand_one_dict_per_row(frame: pd.DataFrame) -> pd.DataFrame:
    """The former expansion (a parse and a dict per row), as the reference for the one-parse version."""
    import json

    extras = pd.DataFrame([json.loads(e) if isinstance(e, str) else (e if isinstance(e, dict) else {})
                           for e in frame["extra"]], index=frame.index)
    out = frame.drop(columns="extra")
    for col in extras.columns:
        if col in out.columns:
            continue
        values = extras[col].astype("object").where(extras[col].notna(), None)
        filled = values.dropna()
        numeric = pd.to_numeric(values, errors="coerce")
        words = filled.astype(str).str.strip().str.lower()
        if numeric.notna().sum() == len(filled):
            out[col] = numeric
        elif len(filled) and words.isin(data.TRUE_WORDS | data.FALSE_WORDS).all():
            out[col] = values.map(lambda v: None if v is None else str(v).strip().lower() in data.TRUE_WORDS
                                  ).astype("boolean")
        else:
            out[col] = values
    return out


def test_extra_columns_expand_as_one_parse_per_row_did() -> None:
    extra = ['{"lang": "English", "score": 3, "on_track": "Y", "note": null}', None,
             '{"score": 2.5, "on_track": "n", "lang": "Spanish"}', float("nan"), '{"late": "x", "student_id": "z"}',
             {"score": "4", "on_track": "yes"}, "{}"]
    frame = pd.DataFrame({"student_id": [f"s{i}" for i in range(len(extra))], "extra": pd.Series(extra, dtype=object)},
                         index=range(10, 10 + len(extra)))
    pd.testing.assert_frame_equal(data._expand_extra(frame), _expand_one_dict_per_row(frame))


def _conform_one_object_per_row(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """The former conform_frame (an object per value), as the reference."""
    out = df.copy()
    for col, dtype in FRAME_COLUMNS[name].items():
        if col not in out.columns:
            out[col] = pd.Series([None] * len(out), index=out.index, dtype="object")
        if dtype == "object":
            s = out[col].astype("object")
            out[col] = s.where(s.notna(), None)
        elif dtype.startswith("datetime"):
            out[col] = pd.to_datetime(out[col]).astype("datetime64[ns]")
        else:
            out[col] = out[col].astype(dtype)
    front = list(FRAME_COLUMNS[name])
    return out[front + [c for c in out.columns if c not in FRAME_COLUMNS[name]]]


@pytest.mark.parametrize("kind", ["students", "assessments", "licenses", "interventions"])
def test_text_columns_share_one_object_per_distinct_value_and_equal_the_former_frame(sample_engine, kind: str) -> None:
    from edtech.core.district import conform_frame

    raw = data._read_sql(sample_engine, f'SELECT * FROM "{kind}"').drop(columns="extra", errors="ignore")
    raw.loc[raw.index[:3], raw.columns[1]] = None  # missing values among the text
    conformed = conform_frame(kind, raw)
    pd.testing.assert_frame_equal(conformed, _conform_one_object_per_row(kind, raw))
    for col, dtype in FRAME_COLUMNS[kind].items():
        if dtype == "object" and len(conformed):
            values = conformed[col]
            assert values.map(lambda v: v is None or isinstance(v, str)).all(), col
            assert len({id(v) for v in values}) <= values.nunique() + 1, col  # equal strings: one object
