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
