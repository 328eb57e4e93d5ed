"""What the Data page calls: the upload use cases (edtech.services.uploads) and the table formats."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from edtech.core.config import UPLOAD_LIMIT_MB  # noqa: F401 - re-exported for the page
from edtech.core.privacy import neutralize_frame  # noqa: F401
from edtech.ingest.contract import KINDS, describe_table, template_csv  # noqa: F401
from edtech.report.assemble import SOURCE_LABELS
from edtech.services.uploads import BUSY_KIND, errors_frame, preview_upload, reports_frame  # noqa: F401
from edtech.store.data import ImportReport, UploadFile
from ui import cache


def table_counts() -> dict[str, int]:
    """Rows per table, counted once per version of the data (every table is written by an import, or by an
    edit that changes a setting): counting 15 million usage rows on every rerun took half a second."""
    from edtech.core import config

    return _table_counts(config.database_url(), tuple(sorted(cache.versions().items())))


@st.cache_resource(max_entries=4, show_spinner=False)
def _table_counts(url: str, versions: tuple) -> dict[str, int]:
    from edtech.store import data

    return data.table_counts(cache.get_engine())


def import_history():
    from edtech.store import data

    return data.import_history(cache.get_engine())


def import_upload(files: list[UploadFile], **kw) -> list[ImportReport]:
    """All or nothing per file, only the rows the signed-in account may write; a check-only run
    (dry_run=True) changes no data version."""
    from edtech.services import uploads
    from ui import state

    return uploads.import_upload(cache.get_engine(), files, state.current_principal(), **kw)


def table_label(kind: object) -> str:
    """A table's name as people say it ('usage_aggregate' -> 'Aggregate engagement'); the report's names
    where it has one, else the code's words."""
    text = str(kind)
    return SOURCE_LABELS.get(text, text.replace("_", " ").capitalize())


CATALOGUE_NAME = "products_info.csv"  # the name the LearnPlatform adapter maps onto the tools table
PRODUCT_READS = ("table:usage_aggregate", "table:tools")


@st.cache_data(show_spinner=False, max_entries=4)
def _engagement_products(key: cache.VersionKey) -> pd.DataFrame:
    from edtech.store import data

    engine = cache.get_engine()
    agg = data.read_table(engine, "usage_aggregate")
    cols = ["tool_id", "tool_name", "days", "districts", "pct_access"]
    if agg.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    tools = data.read_table(engine, "tools")[["tool_id", "tool_name"]]
    per = agg.groupby("tool_id").agg(days=("date", "nunique"), districts=("district_id", "nunique"),
                                     pct_access=("pct_access", "mean")).reset_index()
    per = per.merge(tools.astype({"tool_id": str}), on="tool_id", how="left")
    return per.sort_values(["pct_access", "tool_id"], ascending=[False, True], ignore_index=True)[cols]


def engagement_products() -> pd.DataFrame:
    """Per product of the engagement (aggregate) data: its name from the tools table (missing = not in the
    catalogue), days and districts reported, the mean daily share of students using it; cached until an
    import stores aggregate rows or tools."""
    return _engagement_products(cache.versions_key(PRODUCT_READS))


def import_catalogue(content: bytes, *, dry_run: bool = False) -> list[ImportReport]:
    """A LearnPlatform product catalogue (whatever the uploaded file is called) through the LearnPlatform
    adapter: LP ID -> tool_id, Product Name -> tool_name, provider, sector, function."""
    return import_upload([UploadFile(CATALOGUE_NAME, content)], dry_run=dry_run)
