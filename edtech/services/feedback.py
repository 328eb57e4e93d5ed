"""Stakeholder feedback use cases (data contract v2 `feedback`; issue 17): satisfaction per tool and role
beside use and effect (Tool ROI, Vetting, `roi --format json`), and the comments, for the roles allowed
to read them (Action.READ_COMMENTS), never on board material.

Satisfaction is a district fact, like evidence: computed on every school's responses (the score uses it);
a coordinator reads only the comments of their schools' respondents. Use and effect come from the
scoreboard of the workspace's scope (`Workspace.board`), never recomputed. Readers who see aggregates
only (board members, viewers) get roles with fewer than `rules.suppression_threshold()` ratings as "<10".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from edtech.core import rules
from edtech.core.access import Action
from edtech.core.privacy import suppression_label
from edtech.feedback import satisfaction as sat
from edtech.services import workspace

READS = workspace.BOARD_READS      # the board (use, effect, score) and table:feedback
COMMENT_COLUMNS = ["tool_id", "tool_name", "date", "role", "school_id", "school_name", "rating", "comment"]


@dataclass
class SatisfactionView:
    per_tool: pd.DataFrame     # one row per tool of the board: satisfaction, use trend, summary
    by_role: pd.DataFrame      # one row per tool x role (suppressed for aggregate-only readers)
    suppressed: bool           # True when small groups are hidden (board members, viewers)
    min_n: int
    window_end: pd.Timestamp | None
    responses: int             # ratings in the window (district)


def satisfaction(ws: workspace.Workspace) -> SatisfactionView:
    """Per tool of the scope's board: satisfaction (mean of role means, n), lead role, use trend (from the
    board's own figures), effect, and a one-line summary; and the per-role table."""
    min_n = rules.suppression_threshold()
    suppressed = not ws.principal.can(Action.VIEW_STUDENTS)
    feedback = ws.whole.feedback
    board = ws.board
    roles = sat.by_role(feedback, ws.as_of, min_n)
    tools = sat.per_tool(roles).set_index("tool_id")
    roles = roles.round({"mean_rating": 2, "share_4_5": 3, "recent_mean": 2, "earlier_mean": 2, "change": 2,
                         "change_ci_low": 2, "change_ci_high": 2})
    use = sat.usage_trend(board, min_n).set_index("tool_id") if len(board) else pd.DataFrame()
    rows = []
    for _, b in board.iterrows():
        tid = b["tool_id"]
        mine = roles[roles["tool_id"] == tid]
        t = tools.loc[tid] if tid in tools.index else None
        rows.append({
            "tool_id": tid, "tool_name": b["tool_name"],
            # rounded once here, so the pages and `roi --format json` carry the same number
            "satisfaction_mean": round(float(t["satisfaction_mean"]), 2) if t is not None else math.nan,
            "satisfaction_n": int(t["satisfaction_n"]) if t is not None else 0,
            "responses": int(t["responses"]) if t is not None else 0,
            "lead_role": t["lead_role"] if t is not None else None,
            "use_trend": use.loc[tid, "use_trend"] if tid in use.index else "few",
            "recent_share": use.loc[tid, "recent_share"] if tid in use.index else math.nan,
            "summary": sat.summary_line(mine, use.loc[tid] if tid in use.index else None, b, min_n, suppressed),
        })
    per_tool = pd.DataFrame(rows, columns=["tool_id", "tool_name", "satisfaction_mean", "satisfaction_n",
                                           "responses", "lead_role", "use_trend", "recent_share", "summary"])
    shown_roles = roles[roles["tool_id"].isin(set(board["tool_id"]))] if len(board) else roles.iloc[0:0]
    if suppressed:
        shown_roles = sat.suppressed_roles(shown_roles, min_n)
    end = sat.window_end(feedback, ws.as_of) if len(feedback) else None
    return SatisfactionView(per_tool.reset_index(drop=True), shown_roles.reset_index(drop=True), suppressed, min_n,
                            end, int(roles["n"].sum()) if len(roles) else 0)


def role_table(view: SatisfactionView, tool_id: str | None = None) -> pd.DataFrame:
    """The per-role table as people read it (the Tool ROI and Vetting pages): human labels, words for
    codes; numbers stay numbers (the pages format them), '<10' where suppressed."""
    r = view.by_role if tool_id is None else view.by_role[view.by_role["tool_id"] == tool_id]
    names = dict(zip(view.per_tool["tool_id"], view.per_tool["tool_name"], strict=True))
    return pd.DataFrame({
        "Tool": r["tool_id"].map(names).fillna(r["tool_id"]).to_numpy(),
        "Respondents": r["role"].map(lambda x: sat.ROLE_LABELS.get(x, str(x))).to_numpy(),
        "Ratings": r["n"].to_numpy(),
        "Mean rating": r["mean_rating"].to_numpy(),
        "Rated 4 or 5": r["share_4_5"].to_numpy(),
        "Last six months": r["recent_mean"].to_numpy(),
        "Six months before": r["earlier_mean"].to_numpy(),
        "Trend": r["trend"].map(sat.TREND_WORDS).to_numpy(),
    })


def comments(ws: workspace.Workspace, tool_id: str | None = None) -> pd.DataFrame:
    """Stakeholders' comments (newest first), for roles with READ_COMMENTS only (board members and viewers
    are refused here, whatever the page shows); a coordinator reads their schools' respondents only."""
    ws.require(Action.READ_COMMENTS)
    f = ws.whole.feedback
    f = f[f["comment"].notna() & (f["comment"].astype(str).str.strip() != "")]
    if ws.scope is not None:
        f = f[f["school_id"].isin(ws.scope)]
    if tool_id is not None:
        f = f[f["tool_id"] == tool_id]
    tools = dict(zip(ws.whole.tools["tool_id"], ws.whole.tools["tool_name"], strict=False))
    schools = dict(zip(ws.whole.schools["school_id"], ws.whole.schools["school_name"], strict=False))
    out = pd.DataFrame({
        "tool_id": f["tool_id"], "tool_name": f["tool_id"].map(tools).fillna(f["tool_id"]),
        "date": pd.to_datetime(f["date"]), "role": f["role"], "school_id": f["school_id"],
        "school_name": f["school_id"].map(schools), "rating": f["rating"], "comment": f["comment"].astype(str),
    }, columns=COMMENT_COLUMNS)
    return out.sort_values(["date", "tool_name"], ascending=[False, True]).reset_index(drop=True)


def comment_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Comments as people read them: human labels, role words, '—' for a missing school or role."""
    return pd.DataFrame({
        "Date": frame["date"].dt.strftime("%Y-%m-%d").to_numpy(),
        "Tool": frame["tool_name"].to_numpy(),
        "Respondent": frame["role"].map(lambda x: sat.ROLE_ONE.get(x, "—") if isinstance(x, str) else "—").to_numpy(),
        "School": frame["school_name"].fillna(frame["school_id"]).fillna("—").to_numpy(),
        "Rating": frame["rating"].to_numpy(),
        "Comment": frame["comment"].to_numpy(),
    })


# ---------------------------------------------------------------- the command line's JSON

def _number(value: Any, n: int, view: SatisfactionView, digits: int = 2) -> Any:
    """A figure over `n` ratings: null when missing; {"value": null, "display": "<10"} when suppressed."""
    if view.suppressed and n < view.min_n:
        return {"value": None, "display": suppression_label(view.min_n)}
    if value is None or (isinstance(value, float) and not math.isfinite(value)) or pd.isna(value):
        return None
    return round(float(value), digits)


def _count(n: Any, view: SatisfactionView) -> Any:
    if isinstance(n, str):   # already suppressed ('<10')
        return {"value": None, "display": n}
    n = int(n)
    if view.suppressed and n < view.min_n:
        return {"value": None, "display": suppression_label(view.min_n)}
    return n


def satisfaction_records(view: SatisfactionView) -> dict[str, dict[str, Any]]:
    """tool_id -> the `satisfaction` object of `roi --format json` (the figures the pages show)."""
    out: dict[str, dict[str, Any]] = {}
    for _, t in view.per_tool.iterrows():
        roles = view.by_role[view.by_role["tool_id"] == t["tool_id"]]
        n = int(t["satisfaction_n"])
        by_role = {}
        for _, r in roles.iterrows():
            small = isinstance(r["n"], str) or int(r["n"]) < view.min_n
            count = r["n"] if isinstance(r["n"], str) else int(r["n"])
            by_role[str(r["role"])] = {
                "n": _count(count, view),
                "mean": _number(r["mean_rating"], 0 if small else int(count), view),
                "share_4_5": _number(r["share_4_5"], 0 if small else int(count), view, 3),
                "trend": str(r["trend"]),
            }
        out[str(t["tool_id"])] = {
            "mean": _number(t["satisfaction_mean"], n, view),
            "n": _count(n, view),
            "responses": _count(int(t["responses"]), view),
            "by_role": by_role,
            "use_trend": str(t["use_trend"]),
            "summary": str(t["summary"]),
        }
    return out
