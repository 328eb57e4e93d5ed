"""The director's decisions per tool (data contract v2 `decisions`): record (director only, audited),
the latest per tool, counts and a CSV export.

The engine's recommendation (`edtech.roi.engine`, column `recommendation`) and the director's decision
are kept apart everywhere: this module never writes or reads a recommendation, and the frames it
hands out name their columns `decision*` so a surface cannot mistake one for the other.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlmodel import Session

from edtech.core.access import SYSTEM, Action, Principal
from edtech.core.privacy import neutralize_frame
from edtech.services import audit
from edtech.store import data
from edtech.store.models import Decision

# the contract's codes, in the order the engine's recommendations are counted (roi.figures)
DECISION_KINDS = ("renew", "right_size", "renegotiate", "consolidate", "sunset", "study")
DECISION_LABELS = {"renew": "Renew", "right_size": "Right-size", "renegotiate": "Renegotiate",
                   "consolidate": "Consolidate", "sunset": "Sunset", "study": "Study"}
COLUMNS = ["tool_id", "decision", "seats", "decided_by", "decided_at", "note"]
MAX_NOTE = 2000


class DecisionError(ValueError):
    """A decision that cannot be recorded (unknown tool or code, seats out of range): shown as is."""


def parse_decision(text: str) -> str:
    """A decision code from its code or label ('right-size', 'Right-size' -> right_size)."""
    key = str(text).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in DECISION_KINDS:
        raise DecisionError(f"Unknown decision {text!r}: use one of {', '.join(DECISION_KINDS)}.")
    return key


def decision_text(decision: str | None, seats: float | None = None) -> str:
    """'Right-size to 120 seats', 'Sunset'… ('' when there is no decision)."""
    if decision is None or (not isinstance(decision, str) and pd.isna(decision)) or not decision:
        return ""
    label = DECISION_LABELS.get(decision, str(decision))
    if decision == "right_size" and seats is not None and not pd.isna(seats):
        return f"{label} to {int(seats):,} seats"
    return label


def _district_board(engine: Engine, principal: Principal) -> pd.DataFrame:
    from edtech.services.workspace import Workspace  # the ROI analysis only when the caller has no board

    return Workspace(engine, None, principal=principal).district_board()


def record_decision(engine: Engine, tool_id: str, decision: str, *, seats: int | None = None, note: str = "",
                    principal: Principal, board: pd.DataFrame | None = None,
                    now: dt.datetime | None = None) -> dict:
    """Record the director's decision for one tool (a new row; the latest per tool counts) and audit it.

    `board` is the district-wide scoreboard when the caller has it (the app's cached one); it gives the
    tool's current seats, which a right-size must go below. Returns the stored row as a dict."""
    principal.require(Action.RECORD_DECISION)
    code = parse_decision(decision)
    board = _district_board(engine, principal) if board is None else board
    rows = board[board["tool_id"].astype(str) == str(tool_id)]
    if rows.empty:
        raise DecisionError(f"Unknown tool {tool_id!r}: decisions are recorded for tools on the scoreboard.")
    current = rows["seats"].iloc[0]
    current = 0 if current is None or pd.isna(current) else int(current)
    if code == "right_size":
        if seats is None or pd.isna(seats):
            raise DecisionError("Right-size needs the number of seats to keep.")
        if int(seats) != seats or seats < 0:
            raise DecisionError(f"Seats must be a whole number of at least 0 (got {seats}).")
        if seats >= current:
            raise DecisionError(f"Right-size must keep fewer seats than today's {current:,} (got {int(seats):,}).")
        seats = int(seats)
    elif seats is not None:
        raise DecisionError("Seats are recorded only with a right-size decision.")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise DecisionError(f"The note is longer than {MAX_NOTE:,} characters.")
    at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)  # the column type wants a zone
    row = Decision(tool_id=str(tool_id), decided_at=at, decision=code, seats=seats,
                   decided_by=audit.actor_name(principal), note=note or None)
    data.init_db(engine)  # a database made before v2 gains the table
    with Session(engine) as db:
        db.add(row)
        db.commit()
        stored = {c: getattr(row, c) for c in COLUMNS}
    detail = f"{tool_id}: {decision_text(code, seats)}" + (f" — {note}" if note else "")
    audit.record(engine, principal, "decision recorded", detail=detail)
    return stored


def all_decisions(engine: Engine) -> pd.DataFrame:
    """Every recorded decision, newest first (empty, with the columns, when none or no table yet)."""
    try:
        with Session(engine) as db:
            rows = [{c: getattr(r, c) for c in COLUMNS}
                    for r in db.scalars(select(Decision).order_by(Decision.decided_at.desc()))]
    except (OperationalError, ProgrammingError):  # a database from before the table existed
        rows = []
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["tool_id"] = out["tool_id"].astype(str)
    out["seats"] = pd.to_numeric(out["seats"], errors="coerce").astype("Int64")
    out["decided_at"] = pd.to_datetime(out["decided_at"], utc=True)  # SQLite hands it back without its zone
    return out


def latest_decisions(engine: Engine) -> pd.DataFrame:
    """The latest decision per tool (one row per decided tool, newest first)."""
    every = all_decisions(engine)
    return every.drop_duplicates("tool_id", keep="first").reset_index(drop=True)


def with_decisions(board: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """The scoreboard with the director's latest decision beside the engine's recommendation
    (`decision`, `decision_seats`, `decided_by`, `decided_at`, `decision_note`; empty when none)."""
    latest = decisions.drop_duplicates("tool_id", keep="first").rename(
        columns={"seats": "decision_seats", "note": "decision_note"})
    out = board.drop(columns=[c for c in ("decision", "decision_seats", "decided_by", "decided_at", "decision_note")
                              if c in board.columns])
    return out.merge(latest, on="tool_id", how="left")


def decision_counts(decisions: pd.DataFrame, tool_ids: list[str] | None = None) -> dict[str, int]:
    """Tools per decision code (every code present, zeros included), of `tool_ids` when given."""
    latest = decisions.drop_duplicates("tool_id", keep="first")
    if tool_ids is not None:
        latest = latest[latest["tool_id"].isin([str(t) for t in tool_ids])]
    counts = latest["decision"].value_counts()
    return {k: int(counts.get(k, 0)) for k in DECISION_KINDS}


def export_csv(engine: Engine, board: pd.DataFrame | None = None, principal: Principal = SYSTEM) -> bytes:
    """Every recorded decision (history, newest first) as CSV, with the tool's name and the engine's
    recommendation in separate columns; formula-like text neutralized."""
    principal.require(Action.EXPORT_AGGREGATES)
    every = all_decisions(engine)
    if board is not None and len(board):
        names = board[["tool_id", "tool_name", "recommendation"]].rename(
            columns={"recommendation": "engine_recommendation"})
        every = every.merge(names, on="tool_id", how="left")
        every = every[["tool_id", "tool_name", "decision", "seats", "decided_by", "decided_at", "note",
                       "engine_recommendation"]]
    return neutralize_frame(every).to_csv(index=False).encode("utf-8")
