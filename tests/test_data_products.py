"""LearnPlatform engagement data on the Data page (issue 14): products shown by name once the product
catalogue is loaded from the page, and "largest change after the closures" is the largest change in size,
checked on the LearnPlatform 2020 sample in the shared folder."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from edtech.adoption import engine as adoption
from edtech.core.district import conform_frame
from tests.apptest_utils import open_page

PAGE = "app_pages/data.py"


@pytest.fixture(scope="module")
def learnplatform(shared_dir: Path) -> Path:
    folder = shared_dir / "data" / "learnplatform-2020"
    if not (folder / "1536.csv").exists():
        pytest.skip(f"LearnPlatform 2020 sample not found at {folder}")
    return folder


def _district_frames(folder: Path, district: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One district's engagement file as the importer stores it (pct_access a share) and the catalogue."""
    raw = pd.read_csv(folder / f"{district}.csv", dtype={"lp_id": str})
    agg = conform_frame("usage_aggregate", pd.DataFrame({
        "date": pd.to_datetime(raw["time"]), "tool_id": raw["lp_id"], "district_id": district, "school_id": None,
        "pct_access": raw["pct_access"] / 100, "engagement_index": raw["engagement_index"]}))
    products = pd.read_csv(folder / "products_info.csv", dtype={"LP ID": str})
    tools = conform_frame("tools", pd.DataFrame({"tool_id": products["LP ID"], "tool_name": products["Product Name"]}))
    return agg, tools


def test_largest_change_after_the_closures_is_the_largest_in_size(learnplatform):
    # district 1536: most of its top products fell after 13 March 2020; one rose a little
    agg, tools = _district_frames(learnplatform, "1536")
    top = adoption.aggregate_top_products(agg, tools, n=10)
    shift = adoption.aggregate_shift(agg, top["tool_id"].tolist(), adoption.SCHOOL_CLOSURE_2020)
    sizes = shift["change"].abs()
    assert sizes.is_monotonic_decreasing                      # largest change first, a fall as much as a rise
    headline = shift.iloc[0]                                  # what the page names as the largest change
    assert headline["change"] == shift.loc[sizes.idxmax(), "change"]
    assert headline["change"] < -0.1 and headline["before"] > 0.3  # a big fall, not the only small rise
    rises = shift[shift["change"] > 0]
    assert len(rises) and rises["change"].max() < abs(headline["change"])  # the old order named a rise


def _import_engagement(url: str, folder: Path) -> None:
    from edtech.store import data

    engine = data.make_engine(url)
    try:
        reports = data.import_learnplatform(engine, {"1470.csv": (folder / "1470.csv").read_bytes()})
        assert all(r.ok for r in reports), [r.error_lines() for r in reports]
    finally:
        engine.dispose()


def _headers(grid) -> list[str]:
    config = json.loads(grid.proto.columns) if grid.proto.columns else {}
    return [c.get("label") or name for name, c in config.items() if isinstance(c, dict) and not c.get("hidden")]


def test_data_page_loads_the_product_catalogue_and_names_the_products(empty_db_url, learnplatform):
    _import_engagement(empty_db_url, learnplatform)
    at = open_page(PAGE, timeout=90)
    products = next(d.value for d in at.dataframe if "days" in d.value.columns)
    assert (products["tool_name"] == "Not in the catalogue").all()   # engagement only: IDs, said so
    assert any("have no name yet" in w.value for w in at.warning)

    at.file_uploader(key="data_catalogue").set_value(
        ("catalogue.csv", (learnplatform / "products_info.csv").read_bytes(), "text/csv")).run()
    at.button(key="data_catalogue_load").click().run()
    assert not at.exception, at.exception
    assert any("372 rows read" in s.value for s in at.success)
    grid = next(d for d in at.dataframe if "days" in d.value.columns)
    named = grid.value.set_index("tool_id")["tool_name"]
    assert named["32213"] == "Google Classroom"                      # the district's most used product
    assert list(named.iloc[:3]) == ["Google Classroom", "Meet", "Google Docs"]  # most used first
    assert named.ne("Not in the catalogue").sum() > 300              # most lp_ids are not in the catalogue
    assert all("_" not in h for h in _headers(grid))

    unnamed = int(named.eq("Not in the catalogue").sum())          # lp_ids the catalogue does not list
    assert 0 < unnamed < len(products)

    again = open_page(PAGE, timeout=90)                              # a new visit: names from the database
    assert [w.value for w in again.warning if "no name yet" in w.value][0].startswith(f"{unnamed:,} of ")
    loaded = next(d.value for d in again.dataframe if "rows" in d.value.columns).set_index("table")["rows"]
    assert loaded["Tool catalog"] == 372 and loaded["Aggregate engagement"] > 30_000
