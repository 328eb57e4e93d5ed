"""Use case "how is each school adopting its tools?" (page `app_pages/adoption.py`, CLI `adoption`)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from edtech.adoption import engine as adoption
from edtech.adoption import equity
from edtech.core.district import District
from edtech.core.privacy import neutralize_frame
from edtech.store import data

EXIT_OK, EXIT_USAGE = 0, 2

# the columns the CLI prints, in order
CLI_COLUMNS = ["school_id", "school_name", "tool_id", "tool_name", "licensed_students", "active_users",
               "utilization", "dosage_met", "dosage_met_share", "fidelity", "implements_with_fidelity",
               "district_median_utilization", "similar_median_utilization", "similar_schools", "frl_band", "level"]


@dataclass
class AdoptionReport:
    """Everything the adoption page shows, computed once per data version and scope."""

    district: District
    student_usage: pd.DataFrame      # student × tool in the contract year (never shown as names unless allowed)
    schools: pd.DataFrame            # school × tool adoption table
    tool_totals: pd.DataFrame        # per tool, reconciles with edtech.roi
    weekly: pd.DataFrame             # week × school × tool active users
    concentration: pd.DataFrame
    pd_change: pd.DataFrame
    access: pd.DataFrame             # offered student × tool pairs with active / dosage_met
    equity_quartile: pd.DataFrame
    equity_subgroup: pd.DataFrame
    devices: pd.DataFrame
    aggregate_top: pd.DataFrame
    aggregate_weekly: pd.DataFrame
    aggregate_total: pd.DataFrame
    aggregate_shift: pd.DataFrame
    aggregate_marker: pd.Timestamp | None

    @property
    def has_student_usage(self) -> bool:
        return not self.schools.empty

    @property
    def has_aggregate(self) -> bool:
        return not self.district.usage_aggregate.empty

    @property
    def aggregate_level(self) -> str:
        return adoption.aggregate_level(self.district.usage_aggregate) if self.has_aggregate else ""


def build_report(district: District, all_schools: pd.DataFrame | None = None,
                 all_students: pd.DataFrame | None = None, pd_weeks: int = 6, top_n: int = 10) -> AdoptionReport:
    """Compute every adoption table for a district (or a coordinator's scope of it)."""
    per = adoption.student_tool_usage(district)
    schools = adoption.school_tool_adoption(district, per, all_schools, all_students)
    weekly = adoption.weekly_trend(district.usage, district.students)
    seats = schools[["school_id", "tool_id", "licensed_students"]]
    access = equity.student_access(district.students, district.tools, seats, per)
    agg = district.usage_aggregate
    marker = None
    if len(agg):
        # the spring-2020 school closures, when the data covers them; else no marker
        lo, hi = agg["date"].min(), agg["date"].max()
        marker = adoption.SCHOOL_CLOSURE_2020 if lo < adoption.SCHOOL_CLOSURE_2020 < hi else None
    top = adoption.aggregate_top_products(agg, district.tools, n=top_n)
    return AdoptionReport(
        district=district, student_usage=per, schools=schools, tool_totals=adoption.tool_totals(schools),
        weekly=weekly, concentration=adoption.use_concentration(per, district.schools),
        pd_change=adoption.pd_usage_change(district.pd_sessions, weekly, weeks=pd_weeks),
        access=access, equity_quartile=equity.equity_by_frl_quartile(access, district.schools),
        equity_subgroup=equity.equity_by_subgroup(access, district.students),
        devices=equity.device_coverage(district.devices, district.students, district.schools, district.as_of),
        aggregate_top=top,
        aggregate_weekly=adoption.aggregate_weekly_trend(agg, top["tool_id"].tolist()),
        aggregate_total=adoption.aggregate_engagement_total(agg),
        aggregate_shift=(adoption.aggregate_shift(agg, top["tool_id"].tolist(), marker)
                         if marker is not None else pd.DataFrame(columns=["tool_id", "before", "after", "change"])),
        aggregate_marker=marker)


def load_report(engine: Engine, scope: frozenset[str] | None = None) -> AdoptionReport:
    """Load the district (or scope) and build the report; seats are shared over the whole district."""
    district = data.load_district(engine, scope)
    all_schools = all_students = None
    if scope is not None:
        all_schools = data.read_table(engine, "schools")
        all_students = data.read_table(engine, "students")[["student_id", "school_id", "grade_level"]]
    return build_report(district, all_schools, all_students)


def school_table(report: AdoptionReport, school_id: str | None = None) -> pd.DataFrame:
    """The school × tool rows (of one school, or all) with the CLI's columns."""
    rows = report.schools if school_id is None else report.schools[report.schools["school_id"] == school_id]
    return rows[CLI_COLUMNS].reset_index(drop=True)


# ------------------------------------------------------------------------------------------ CLI
def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("adoption", help="school × tool adoption: seats, active users, utilization, fidelity",
                                   description=f"{adoption.ACTIVE_USER_RULE} {adoption.SEAT_ALLOCATION_RULE}")
    parser.add_argument("--school", default=None, help="only this school_id")
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.set_defaults(func=run_cli)


def run_cli(args: argparse.Namespace) -> int:
    engine = data.make_engine(args.db)
    report = load_report(engine)
    known = set(report.district.schools["school_id"])
    if args.school is not None and args.school not in known:
        shown = ", ".join(sorted(known)[:20]) or "none (the database has no schools; run `python -m edtech demo`)"
        print(f"error: unknown school '{args.school}'. Known school_ids: {shown}", file=sys.stderr)
        return EXIT_USAGE
    table = school_table(report, args.school)
    if args.format == "json":
        records = json.loads(table.to_json(orient="records", date_format="iso"))
        print(json.dumps(records, indent=2))
    elif args.format == "csv":
        neutralize_frame(table).to_csv(sys.stdout, index=False)
    elif table.empty:
        print("No licensed tools or usage yet." if args.school is None else f"No tools at school {args.school}.")
    else:
        shown = table.copy()
        for col in ["utilization", "dosage_met_share", "fidelity", "district_median_utilization",
                    "similar_median_utilization"]:
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
        print(shown.to_string(index=False))
        print(f"\n{adoption.ACTIVE_USER_RULE}\n{adoption.SEAT_ALLOCATION_RULE}")
    return EXIT_OK


__all__ = ["AdoptionReport", "build_report", "load_report", "register", "school_table"]
