"""What the Data page calls: the upload use cases (edtech.services.uploads) and the table formats."""

from __future__ import annotations

from edtech.core.config import UPLOAD_LIMIT_MB  # noqa: F401 - re-exported for the page
from edtech.core.privacy import neutralize_frame  # noqa: F401
from edtech.ingest.contract import KINDS, describe_table, template_csv  # noqa: F401
from edtech.services.uploads import BUSY_KIND, errors_frame, preview_upload, reports_frame  # noqa: F401
from edtech.store.data import ImportReport, UploadFile
from ui import cache


def table_counts() -> dict[str, int]:
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
