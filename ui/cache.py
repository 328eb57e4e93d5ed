"""The only caching in the app: thin `st.cache_*` wrappers over `edtech.services`.

Every cached result is keyed on (database, scope, the versions of the data parts its use case reads),
never on one global token: a dry-run import, saving weights or saving a scenario leaves every cache
that does not read that part intact. Each use case declares what it reads (`*_READS` in services).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.engine import Engine

from edtech.core import config
from edtech.core.access import Action, Principal, scope_for
from edtech.core.district import District
from edtech.core.scope import Scope, from_key, scope_key
from edtech.report import render
from edtech.services import adoption as adoption_service
from edtech.services import audit
from edtech.services import overview as overview_service
from edtech.services import report as report_service
from edtech.services import roi as roi_service
from edtech.services import vetting as vetting_service
from edtech.services import workspace as ws
from edtech.store import data

VersionKey = tuple[tuple[str, str], ...]
T = TypeVar("T")


@st.cache_resource
def _engine(url: str) -> Engine:
    engine = data.make_engine(url)
    data.init_db(engine)
    return engine


def get_engine() -> Engine:
    """One engine per database URL (EDTECH_DATABASE_URL may point elsewhere in tests)."""
    return _engine(config.database_url())


def versions() -> dict[str, str]:
    """Version token per data part (table:<kind>, setting:<key>, scenarios, models): one small query."""
    return data.data_versions(get_engine())


def versions_key(parts: Iterable[str]) -> VersionKey:
    """The cache key of a use case that reads `parts` ('table:*' = every table)."""
    current = versions()
    wanted = set(parts)
    if "table:*" in wanted:
        wanted = (wanted - {"table:*"}) | {k for k in current if k.startswith("table:")}
    return tuple((p, current.get(p, "0")) for p in sorted(wanted))


# cache_resource: results are shared read-only between reruns and sessions (no per-call unpickling)
@st.cache_resource(show_spinner="Computing…", max_entries=24)
def _part(name: str, key: VersionKey, _compute: Callable[[], Any]) -> Any:
    return _compute()


class _CachedProvider(ws.Provider):
    """A Workspace's district-wide parts served from one cache per (part, versions it reads)."""

    def part(self, engine: Engine, name: str, reads: tuple[str, ...], compute: Callable[[], T]) -> T:
        return _part(name, versions_key(reads), compute)


_PROVIDER = _CachedProvider()


def _signed_in() -> Principal:
    from ui import state  # the signed-in account (ui.auth set it before any page ran)

    return state.current_principal()


def workspace(scope: Scope = None, principal: Principal | None = None) -> ws.Workspace:
    """A Workspace of the signed-in principal for this rerun whose heavy parts come from the shared caches
    (the Workspace cuts the scope to what the principal may read)."""
    return ws.Workspace(get_engine(), scope, principal=principal or _signed_in(), provider=_PROVIDER)


def get_whole() -> District:
    """Every school's data, for what the district as a whole needs (school names, empty-state checks)."""
    return ws.Workspace(get_engine(), None, provider=_PROVIDER).whole


def school_names() -> dict[str, str]:
    schools = get_whole().schools
    return dict(zip(schools["school_id"], schools["school_name"], strict=False))


def get_district(scope: Scope = None) -> District:
    """The scope's slice of the whole district (cheap: a filter of the cached frames)."""
    return workspace(scope).district


@st.cache_resource(show_spinner=False, max_entries=256)
def _figure(name: str, args: tuple, kwargs: tuple, _build: Callable[..., Any]) -> Any:
    from edtech.core.charts import escape_figure

    fig = escape_figure(_build(*args, **dict(kwargs)))
    fig._escaped = True  # noqa: SLF001 - components.chart draws it as is (escaped once, here)
    return fig


def figure(build: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """What a pure figure builder (`edtech.*.viz`) returns for these inputs, kept between reruns and sessions:
    plotly's object API costs 20-100 ms a figure, so a rerun redraws cached figures instead of rebuilding them.
    The figure is shared and already escaped: draw it with `components.chart`, never change it."""
    return _figure(f"{build.__module__}.{build.__qualname__}", args, tuple(sorted(kwargs.items())), build)


@st.cache_resource(max_entries=64)
def _use_case(name: str, role: str, scope: tuple[str, ...] | None, key: VersionKey, args: tuple,
              _run: Callable[..., Any], _principal: Principal) -> Any:
    return _run(workspace(from_key(scope), _principal), *args)


def use_case(run: Callable[..., T], reads: Iterable[str], scope: Scope, *args: Any) -> T:
    """A service use case `run(workspace, *args)` as the signed-in principal, cached on (its name, the role,
    the scope the principal may read, versions of `reads`, args): what a use case returns depends on the
    role and the scope only, never on who else asked first."""
    principal = _signed_in()
    allowed = scope_for(principal, scope)
    return _use_case(f"{run.__module__}.{run.__qualname__}", principal.role.value, scope_key(allowed),
                     versions_key(reads), args, run, principal)


# ---------------------------------------------------------------- use cases the pages call

def overview(scope: Scope) -> overview_service.Overview:
    return use_case(overview_service.overview, overview_service.READS, scope)


def roi_board(scope: Scope):
    """The scoreboard with the saved weights (the same every surface shows)."""
    return use_case(roi_service.scoreboard, roi_service.READS, scope)


def roi_drilldown(scope: Scope, tool_id: str, threshold: float) -> roi_service.Drilldown:
    return use_case(roi_service.drilldown, roi_service.READS, scope, tool_id, round(float(threshold), 3))


def roi_export_csv(board) -> bytes:
    """The scoreboard as a download (formula-like text neutralized)."""
    return roi_service.export_frame(board).to_csv(index=False).encode()


def roi_analysis():
    return workspace(None).roi


@st.cache_resource(max_entries=8)
def _assessment_names(url: str, key: VersionKey) -> list[str]:
    return roi_service.assessment_names(get_engine())


def assessment_names() -> list[str]:
    """Every assessment name, sorted (the Tool ROI outcome picker): one DISTINCT query per data version."""
    return _assessment_names(config.database_url(), versions_key(roi_service.ASSESSMENT_NAMES_READS))


def saved_weights() -> dict[str, float]:
    return ws.load_weights(get_engine())


def save_weights(weights: dict[str, float]) -> None:
    roi_service.save_weights(get_engine(), weights, _signed_in())


def outcome_choice() -> dict[str, str]:
    return ws.load_outcome_choice(get_engine())


def save_outcome_choice(tool_id: str, assessment: str | None) -> None:
    roi_service.save_outcome_choice(get_engine(), tool_id, assessment, _signed_in())


def vetting(scope: Scope) -> vetting_service.VettingInventory:
    return use_case(vetting_service.vetting_inventory, vetting_service.READS, scope)


def satisfaction(scope: Scope):
    """Stakeholder satisfaction per tool and role beside use and effect (suppressed for aggregate-only roles)."""
    from edtech.services import feedback as feedback_service

    return use_case(feedback_service.satisfaction, feedback_service.READS, scope)


def satisfaction_roles(view, tool_id: str | None = None):
    """The per-role satisfaction table with human labels (one tool, or every tool of the view)."""
    from edtech.services import feedback as feedback_service

    return feedback_service.role_table(view, tool_id)


def comment_table(frame):
    from edtech.services import feedback as feedback_service

    return feedback_service.comment_table(frame)


def feedback_comments(scope: Scope, tool_id: str | None = None):
    """Stakeholders' comments; the service refuses roles without READ_COMMENTS (AccessDenied)."""
    from edtech.services import feedback as feedback_service

    return use_case(feedback_service.comments, ("table:feedback", "table:tools", "table:schools"), scope, tool_id)


def adoption_report(scope: Scope) -> adoption_service.AdoptionReport:
    return use_case(adoption_service.adoption_report, adoption_service.READS, scope)


def adoption_school_view(scope: Scope, school_id: str | None) -> adoption_service.SchoolView:
    return use_case(adoption_service.school_view, adoption_service.READS, scope, school_id)


def adoption_heatmap(scope: Scope, value: str):
    return use_case(adoption_service.heatmap, adoption_service.READS, scope, value)


def adoption_equity_view(scope: Scope, tool_id: str | None):
    return use_case(adoption_service.equity_view, adoption_service.READS, scope, tool_id)


def adoption_not_using_students(scope: Scope, school_id: str):
    return use_case(adoption_service.not_using_students, adoption_service.READS, scope, school_id)


def adoption_pd_figure(scope: Scope, row: int, title: str):
    return use_case(adoption_service.pd_figure, adoption_service.READS, scope, row, title)


# ---------------------------------------------------------------- board report

RenderError = render.RenderError


def saved_scenarios() -> list[str]:
    return data.list_scenarios(get_engine())


def board_report(scope: Scope, sections: tuple[str, ...], scenario: str | None, min_n: int):
    return use_case(report_service.report_for, report_service.READS, scope, sections, scenario, min_n)


@st.cache_resource(show_spinner=False, max_entries=8)
def _report_file(scope: tuple[str, ...] | None, key: VersionKey, args: tuple, fmt: str) -> bytes:
    return report_service.export(board_report(from_key(scope), *args), fmt)


def board_report_file(scope: Scope, sections: tuple[str, ...], scenario: str | None, min_n: int, fmt: str) -> bytes:
    """The report as PDF or PPTX (charts drawn once per data version and options); refused unless the
    role produces board reports; audited."""
    principal = _signed_in()
    principal.require(Action.BOARD_REPORT)
    return _report_file(scope_key(scope_for(principal, scope)), versions_key(report_service.READS),
                        (sections, scenario, min_n), fmt)


_DERIVED: dict[int, dict[str, Any]] = {}
_DERIVED_LOCK = threading.Lock()


def derived(owner: Any, name: str, build: Callable[[], T]) -> T:
    """What `build` derives from a cached, shared result (`owner`: a board report's table or figure), built on
    the first rerun that asks and kept as long as the owner lives (the owner itself is never changed): later
    reruns reuse it instead of formatting or escaping again."""
    key = id(owner)
    with _DERIVED_LOCK:
        kept = _DERIVED.get(key)
        if kept is None:
            kept = _DERIVED[key] = {}
            weakref.finalize(owner, _DERIVED.pop, key, None)  # an evicted result takes its derived values along
        if name in kept:
            return kept[name]
    value = build()
    with _DERIVED_LOCK:
        return kept.setdefault(name, value)


def escaped_figure(fig: Any, height: int | None = None) -> Any:
    """A figure of a cached result escaped once (at `height` when given, on a copy) for `components.chart`,
    which draws it as is; the result's own figure stays as built (the PDF and slides escape it themselves)."""
    def build() -> Any:
        import plotly.graph_objects as go

        from edtech.core.charts import escape_figure

        shown = escape_figure(go.Figure(fig).update_layout(height=height) if height else fig)
        if shown is fig:  # nothing to escape: a copy carries the mark, the result's figure stays untouched
            shown = go.Figure(fig)
        shown._escaped = True  # noqa: SLF001 - components.chart draws it as is
        return shown

    return derived(fig, f"escaped:{height}", build)


def renewal_memos(scope: Scope, min_n: int) -> bytes:
    _signed_in().require(Action.BOARD_REPORT)
    return use_case(report_service.memos_for, report_service.READS, scope, min_n)


def record_student_export(what: str, scope: Scope, detail: str = "") -> None:
    """Audit a student-level download (refused unless the role exports student-level data)."""
    principal = _signed_in()
    principal.require(Action.EXPORT_STUDENTS)
    audit.record(get_engine(), principal, f"exported student-level data: {what}", scope=scope_for(principal, scope),
                 detail=detail)


def record_report(what: str, scope: Scope, detail: str = "") -> None:
    """Audit a board report (or memos) prepared by the signed-in principal (once per click, not per rerun)."""
    principal = _signed_in()
    principal.require(Action.BOARD_REPORT)
    audit.record(get_engine(), principal, f"{what} produced", scope=scope_for(principal, scope), detail=detail)


# ---------------------------------------------------------------- the director's decisions (data contract v2)
# Read uncached (one small query), so a decision shows on the next rerun; a recorded decision clears the
# use-case and report caches, whose version keys do not yet include the decisions table.

def decision_labels() -> dict[str, str]:
    """Decision code -> label, in the contract's order (renew, right_size, …)."""
    from edtech.services import decisions as decision_service

    return dict(decision_service.DECISION_LABELS)


def board_with_decisions(board):
    """The scoreboard with the director's latest decision beside the engine's recommendation, and
    `decision_text` ('Right-size to 120 seats'; '' when none)."""
    from edtech.services import decisions as decision_service

    out = decision_service.with_decisions(board, decision_service.latest_decisions(get_engine()))
    out["decision_text"] = [decision_service.decision_text(d, s)
                            for d, s in zip(out["decision"], out["decision_seats"], strict=True)]
    return out


def record_decision(tool_id: str, decision: str, seats: int | None, note: str) -> str | None:
    """Record the signed-in director's decision (the service checks the role and the seats, and audits);
    returns None when stored, else the reason it was refused, to show as is."""
    from edtech.core.access import AccessDenied
    from edtech.services import decisions as decision_service

    try:
        decision_service.record_decision(get_engine(), tool_id, decision, seats=seats, note=note,
                                         principal=_signed_in(), board=roi_board(None))
    except (decision_service.DecisionError, AccessDenied) as exc:
        return str(exc)
    _use_case.clear()      # the report and the budget proposal start from the decisions
    _report_file.clear()
    return None


def decisions_csv_later(board) -> Callable[[], bytes]:
    """Every recorded decision as CSV (roles that download aggregates), built when the download is clicked
    (st.download_button runs it then, outside the page script) for the principal signed in now."""
    from edtech.services import decisions as decision_service

    engine, principal = get_engine(), _signed_in()
    return lambda: decision_service.export_csv(engine, board, principal=principal)


__all__ = ["get_engine", "versions", "versions_key", "workspace", "get_whole", "get_district", "use_case"]
