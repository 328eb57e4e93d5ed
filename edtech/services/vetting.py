"""Use case "is every tool safe, accessible and worth renewing?" (page Vetting).

Per tool rows come from the scoreboard (`Workspace.board`), so seats, spend, utilization and the
recommendation are the same figures the Tool ROI page, the report and the CLI show for the scope.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from edtech.core import rules
from edtech.core.format import EM_DASH
from edtech.services import feedback, overview, workspace

READS = feedback.READS   # the board and the survey (satisfaction beside each tool)
HIGH_USE_SHARE = 0.10  # a tool used by >= 10% of the students in view counts as high use
# words, never the codes; "none" would read like a missing value (issue 14), so it says what is missing
PRIVACY_TEXT = {"signed_dpa": "Signed DPA", "pending": "Pending", "none": "No agreement", "unknown": "Unknown"}
ACCESS_TEXT = {"wcag_aa": "WCAG AA", "partial": "Partial", "none": "Not conformant", "unknown": "Unknown"}


@dataclass
class VettingInventory:
    inventory: pd.DataFrame      # one row per tool, high-use unvetted first
    renewals: pd.DataFrame       # tools whose contract ends within the renewal window
    tools: int
    unvetted: int
    high_use_unvetted: list[str]
    as_of: pd.Timestamp
    scoped: bool


def satisfaction_cell(rated: pd.DataFrame, tool_id: str, view: feedback.SatisfactionView) -> object:
    if tool_id not in rated.index:
        return None
    r = rated.loc[tool_id]
    if view.suppressed and r["satisfaction_n"] < view.min_n:
        return f"<{view.min_n}"
    return None if pd.isna(r["satisfaction_mean"]) else float(r["satisfaction_mean"])


def vetting_inventory(ws: workspace.Workspace) -> VettingInventory:
    board = ws.board
    as_of = ws.as_of
    if board.empty:
        return VettingInventory(pd.DataFrame(), pd.DataFrame(), 0, 0, [], as_of, ws.scope is not None)
    n_students = max(1, overview.student_counts(ws)[0])  # stored per-school counts: no roster read (issue 15)
    vetted = rules.is_vetted(board["privacy_status"], board["accessibility"])
    share = board["active_users"] / n_students
    high = ~vetted & (share >= HIGH_USE_SHARE)
    status = ["High use, unvetted" if h else ("Vetted" if v else "Unvetted") for h, v in zip(high, vetted, strict=True)]
    view = feedback.satisfaction(ws)
    rated = view.per_tool.set_index("tool_id")
    inventory = pd.DataFrame({
        "Tool": board["tool_name"], "Vendor": board["vendor"].fillna(EM_DASH),
        "Category": board["category"].fillna(EM_DASH),
        "Status": status, "Active students": board["active_users"].astype("int64"), "Share of students": share * 100,
        "Privacy (DPA)": board["privacy_status"].map(lambda s: PRIVACY_TEXT.get(s, "Unknown")),
        "Accessibility": board["accessibility"].map(lambda s: ACCESS_TEXT.get(s, "Unknown")),
        "COPPA basis": board["coppa_basis"].fillna(EM_DASH),
        "Interoperability": board["interoperability"].fillna(EM_DASH),
        "Instructional rating": board["instructional_rating"],
        # stakeholders' rating (the Tool ROI page's figure): a number, '<10' for aggregate-only readers, or missing
        "Satisfaction": [satisfaction_cell(rated, t, view) for t in board["tool_id"]],
        "_order": [0 if h else (2 if v else 1) for h, v in zip(high, vetted, strict=True)],
    })
    inventory = inventory.sort_values(["_order", "Active students"], ascending=[True, False]).drop(columns="_order")
    due = board[board["flags"].map(lambda f: "renewal_due" in f)]
    renewals = pd.DataFrame({
        "Tool": due["tool_name"], "Ends": pd.to_datetime(due["contract_end"]).dt.date,
        "Days left": due["days_to_renewal"].astype("Int64"),
        "Auto-renews": due["auto_renew"].map(lambda v: "yes" if v is True else ("no" if v is False else "unknown")),
        "Seats": due["seats"].astype("int64"), "Annual cost": due["annual_cost"],
        "Utilization": due["utilization"] * 100,
        "Vetted": [("yes" if v else "no") for v in vetted[due.index]],
        "Recommendation (district)": due["recommendation"].map(lambda r: str(r)[:1].upper() + str(r)[1:]),
    }).sort_values("Days left")
    return VettingInventory(inventory.reset_index(drop=True), renewals.reset_index(drop=True), len(board),
                            int((~vetted).sum()), board.loc[high, "tool_name"].astype(str).tolist(), as_of,
                            ws.scope is not None)
