"""Background refresh of the published at-risk model after new indicators arrive.

The director chooses the outcome once (`risk train` + `risk publish`, or `demo`); after that, an import
that stores indicator rows starts a refresh in a background thread, after the import has committed
and outside its timing: the published version's outcome is trained again on the whole district,
stored, and published when its out-of-sample ROC AUC is not worse than the published version's by
more than `MAX_AUC_DROP` (otherwise it is stored unpublished and the director decides). The refresh
never changes the outcome, so the board report's wording stays true. One refresh runs at a time per
database; imports during a refresh ask for one more run after it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from edtech.core.access import Principal, Role
from edtech.services import audit
from edtech.services import risk as risk_service
from edtech.services.workspace import Workspace

log = logging.getLogger(__name__)

# tables whose rows feed the model's features or outcome
TRIGGERS = frozenset({"indicators", "students"})
MAX_AUC_DROP = 0.02
# the refresh acts for the director who published the outcome, as itself in the audit trail
REFRESHER = Principal(email="system:retrain", role=Role.DIRECTOR, name="Background model refresh")


@dataclass
class RefreshState:
    """What the app shows about the refresh of one database."""

    running: bool = False
    pending: bool = False              # another import arrived while running: run once more
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: str = ""                  # plain words: what the last refresh did
    error: str | None = None
    thread: threading.Thread | None = field(default=None, repr=False)


_STATES: dict[str, RefreshState] = {}
_LOCK = threading.Lock()


def _key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def state(engine: Engine) -> RefreshState:
    with _LOCK:
        return _STATES.setdefault(_key(engine), RefreshState())


def _auc(info_metrics: dict[str, Any] | None) -> float | None:
    value = (info_metrics or {}).get("roc_auc")
    return float(value) if isinstance(value, int | float) else None


def refresh_published(engine: Engine) -> str:
    """Train the published outcome again and publish it unless it got worse; returns what happened."""
    published = risk_service.published_version(engine)
    if published is None:
        return "no published model: nothing to refresh"
    target = published["target"]
    trained = risk_service.train_workspace(Workspace(engine), target)  # no weekly usage rows in memory
    version = risk_service.save_version(engine, trained, principal=REFRESHER)
    old_auc = _auc(risk_service.version_details(engine, published["id"]).get("metrics"))
    new_auc = _auc(risk_service.version_details(engine, version).get("metrics"))
    if old_auc is not None and (new_auc is None or new_auc < old_auc - MAX_AUC_DROP):
        outcome = (f"version {version} (outcome {target}) stored, not published: its ROC AUC "
                   f"{'unknown' if new_auc is None else f'{new_auc:.3f}'} is below the published version's {old_auc:.3f}")
        audit.record(engine, REFRESHER, "model refresh held back", detail=outcome)
        return outcome
    risk_service.publish_version(engine, version, principal=REFRESHER)
    # the stored worklist of the old version is stale (the `models` token moved): store the new one now, in
    # this background thread, rather than on the next page open (which computes it when this fails)
    try:
        risk_service.stored_district_worklist(Workspace(engine))
    except Exception:  # noqa: BLE001 - the version is published; the page shows its own error
        log.exception("storing the new version's worklist failed")
    return f"version {version} (outcome {target}) trained on the new data and published"


def _run(engine: Engine, st: RefreshState) -> None:
    while True:
        try:
            outcome, error = refresh_published(engine), None
        except Exception as exc:  # a background thread has no caller to raise to: keep it for the page
            log.exception("background model refresh failed")
            outcome, error = "the refresh failed; the published model is unchanged", str(exc)
        with _LOCK:
            st.outcome, st.error, st.finished_at = outcome, error, datetime.now(UTC)
            if not st.pending:
                st.running = False
                return
            st.pending = False


def after_import(engine: Engine, kinds: set[str]) -> bool:
    """Start (or queue) a refresh when an import stored rows the model reads and a model is published.
    Returns True when a refresh was started or queued."""
    if not (kinds & TRIGGERS) or risk_service.published_version(engine) is None:
        return False
    st = state(engine)
    with _LOCK:
        if st.running:
            st.pending = True
            return True
        st.running, st.pending, st.started_at, st.error = True, False, datetime.now(UTC), None
        st.thread = threading.Thread(target=_run, args=(engine, st), name="edtech-model-refresh", daemon=True)
        st.thread.start()
    return True


def wait(engine: Engine, timeout: float | None = None) -> RefreshState:
    """Block until the current refresh ends (tests, the CLI)."""
    st = state(engine)
    thread = st.thread
    if thread is not None:
        thread.join(timeout)
    return st
