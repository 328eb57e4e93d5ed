"""Adapters from real exports to contract tables (text frames that then pass the normal checks).

- OneRoster 1.1 / 1.2 CSV: orgs (type school) -> schools; users with role student (1.1 `role`,
  or 1.2 `roles.csv`) -> students; demographics -> gender, race_ethnicity.
- LearnPlatform-style engagement export: products_info -> tools; each engagement file ->
  usage_aggregate rows of the district its file name names (`engagement_data/<district>.csv`, said in
  a warning), checked as its own file: errors name the file, its own line and the original text, and
  pct_access is always read as a percent (the export's scale) with bad values rejected, never blanked;
  districts_info kept as a setting with range strings such as "[0.2, 0.4[" read as their midpoint and
  the range kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from edtech.core.words import TRUE_WORDS
from edtech.ingest.contract import normalize_header

RACE_FLAGS = {
    "americanindianoralaskanative": "American Indian or Alaska Native",
    "asian": "Asian",
    "blackorafricanamerican": "Black or African American",
    "nativehawaiianorotherpacificislander": "Native Hawaiian or Pacific Islander",
    "white": "White",
}
ONEROSTER_GRADES = {"PS": "PK", "PR": "PK", "PK": "PK", "TK": "PK", "KG": "K"}
_RANGE = re.compile(r"^\s*\[\s*([-\d.]+)\s*,\s*([-\d.]+)\s*\[\s*$")


@dataclass
class AdaptedFile:
    """One source file mapped onto a contract table, imported (and reported) as that file.

    `frame`: text columns named as the contract's, index = the source file's line numbers, values
    as the file wrote them (so errors show the original text)."""

    kind: str
    name: str
    frame: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    percent_scales: dict[str, float] = field(default_factory=dict)
    skipped: int = 0   # source rows left out (named in a warning)


@dataclass
class Adapted:
    frames: dict[str, pd.DataFrame]   # whole converted tables (their lines are the table's rows)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)
    files: list[AdaptedFile] = field(default_factory=list)


def _norm(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.columns = [normalize_header(c).replace("_", "") for c in out.columns]
    return out


def _truthy(v: object) -> bool:
    return str(v).strip().lower() in TRUE_WORDS


def from_oneroster(frames: dict[str, pd.DataFrame]) -> Adapted:
    """frames: file stem (lower case) -> text frame."""
    warnings: dict[str, list[str]] = {}
    orgs = _norm(frames["orgs"])
    schools_src = orgs[orgs["type"].astype(str).str.lower() == "school"]
    schools = pd.DataFrame({"school_id": schools_src["sourcedid"], "school_name": schools_src["name"]})
    if "parentsourcedid" in schools_src:
        schools["district_id"] = schools_src["parentsourcedid"]

    users = _norm(frames["users"])
    if "role" in users:
        students_src = users[users["role"].astype(str).str.lower() == "student"].copy()
        students_src["school"] = students_src.get("orgsourcedids", pd.Series(dtype=object)).astype(str).str.split(",").str[0]
    elif "roles" in frames:
        roles = _norm(frames["roles"])
        roles = roles[roles["role"].astype(str).str.lower() == "student"]
        if "roletype" in roles:  # 1.2: prefer the primary org
            roles = roles.sort_values("roletype", key=lambda s: s.astype(str).str.lower() != "primary")
        first_org = roles.drop_duplicates("usersourcedid").set_index("usersourcedid")["orgsourcedid"]
        students_src = users[users["sourcedid"].isin(first_org.index)].copy()
        students_src["school"] = students_src["sourcedid"].map(first_org)
    else:
        raise ValueError("users.csv has no role column and there is no roles.csv")
    if "status" in students_src:  # tobedeleted rows are not current students
        students_src = students_src[students_src["status"].astype(str).str.lower() != "tobedeleted"]
    grades = students_src.get("grades", pd.Series("", index=students_src.index)).astype(str).str.split(",").str[0].str.strip()
    grades = grades.map(lambda g: ONEROSTER_GRADES.get(g.upper(), g))
    students = pd.DataFrame({"student_id": students_src["sourcedid"], "school_id": students_src["school"],
                             "grade_level": grades})
    if "demographics" in frames:
        demo = _norm(frames["demographics"]).set_index("sourcedid")
        if "sex" in demo:
            students["gender"] = students["student_id"].map(demo["sex"])
        def race(row: pd.Series) -> str | None:
            if _truthy(row.get("hispanicorlatinoethnicity")):
                return "Hispanic or Latino"
            if _truthy(row.get("demographicracetwoormoreraces")):
                return "Two or more races"
            named = [label for key, label in RACE_FLAGS.items() if _truthy(row.get(key))]
            return named[0] if len(named) == 1 else ("Two or more races" if named else None)
        students["race_ethnicity"] = students["student_id"].map(demo.apply(race, axis=1))
    warnings["students"] = ["OneRoster has no lunch/EL/disability flags: import a students file for frl, ell, iep"]
    return Adapted({"schools": schools.reset_index(drop=True), "students": students.reset_index(drop=True)}, warnings)


def parse_range(value: object) -> tuple[float | None, str | None]:
    """'[0.2, 0.4[' -> (0.3, '[0.2, 0.4[')."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None, None
    m = _RANGE.match(str(value))
    if not m:
        return None, None
    low, high = float(m.group(1)), float(m.group(2))
    return (low + high) / 2, str(value).strip()


def _lines_named(lines: pd.Index, limit: int = 5) -> str:
    shown = ", ".join(str(int(line)) for line in list(lines)[:limit])
    return f"line{'s' if len(lines) > 1 else ''} {shown}" + (f" and {len(lines) - limit} more" if len(lines) > limit else "")


def from_learnplatform(frames: dict[str, pd.DataFrame]) -> Adapted:
    """frames: file name -> text frame whose index is the file's line numbers (products_info.csv,
    districts_info.csv, engagement files)."""
    warnings: dict[str, list[str]] = {}
    out: dict[str, pd.DataFrame] = {}
    files: list[AdaptedFile] = []
    settings: dict[str, object] = {}
    by_name = {Path(n).name.lower(): (n, f) for n, f in frames.items()}
    known_ids: set[str] = set()
    if "products_info.csv" in by_name:
        products_name, products = by_name["products_info.csv"]
        p = _norm(products)
        tools = pd.DataFrame({
            "tool_id": p["lpid"], "tool_name": p["productname"],
            "vendor": p.get("provider/companyname", p.get("providercompanyname")),
            "category": p.get("primaryessentialfunction"),
            "grade_band": p.get("sector(s)", p.get("sectors")),
        })
        listed = tools["tool_id"].notna() & tools["tool_name"].notna()
        tool_warnings = []
        if not listed.all():
            tool_warnings.append(f"{products_name}: {int((~listed).sum())} row(s) without an LP ID or product name "
                                 f"skipped ({_lines_named(tools.index[~listed])})")
        tools = tools[listed]
        known_ids = set(tools["tool_id"].astype(str))
        files.append(AdaptedFile("tools", products_name, tools, tool_warnings, skipped=int((~listed).sum())))
    districts = by_name.get("districts_info.csv", (None, None))[1]
    if districts is not None:
        info = {}
        for row in districts.to_dict("records"):
            did = str(row.get("district_id"))
            entry = {}
            for k, v in row.items():
                if k == "district_id":
                    continue
                mid, rng = parse_range(v)
                entry[k] = {"mid": mid, "range": rng} if rng else (None if v in (None, "NaN") or pd.isna(v) else v)
            info[did] = entry
        settings["learnplatform_districts"] = info
    for name, frame in frames.items():
        if Path(name).name.lower() in ("products_info.csv", "districts_info.csv"):
            continue
        cols = {normalize_header(c) for c in frame.columns}
        if not {"time", "lp_id", "pct_access"} <= cols:
            warnings.setdefault("usage_aggregate", []).append(f"{name}: not an engagement file, ignored")
            continue
        files.append(_engagement_file(name, frame, known_ids))
    return Adapted(out, warnings, settings, files)


def _engagement_file(name: str, frame: pd.DataFrame, known_ids: set[str]) -> AdaptedFile:
    """One engagement file -> usage_aggregate rows of its district (the file name), on its own lines.

    Values stay the file's text: the importer checks them like any file's (a bad pct_access is an
    error naming this file, its line and what it says) with pct_access read as 0-100, the export's
    scale, whatever the values (a district whose shares are all under 1 % is still in percent)."""
    district = Path(name).stem
    f = frame.rename(columns={c: normalize_header(c) for c in frame.columns})
    part = pd.DataFrame({"tool_id": f["lp_id"], "district_id": district, "date": f["time"],
                         "pct_access": f["pct_access"], "engagement_index": f.get("engagement_index")},
                        index=frame.index)
    notes = [f"{name}: district_id {district} taken from the file name (engagement_data/<district>.csv)"]
    missing_id = part["tool_id"].isna() | (part["tool_id"].astype("object").astype(str).str.strip() == "")
    if missing_id.any():
        notes.append(f"{name}: {int(missing_id.sum())} row(s) without lp_id skipped ({_lines_named(part.index[missing_id])})")
        part = part[~missing_id]
    unknown = sorted(set(part["tool_id"].astype(str)) - known_ids) if known_ids else []
    if unknown:
        notes.append(f"{name}: {len(unknown)} lp_id(s) are not in products_info (kept, shown by ID): "
                     f"{', '.join(unknown[:10])}" + ("…" if len(unknown) > 10 else ""))
    return AdaptedFile("usage_aggregate", name, part, notes, {"pct_access": 100.0}, skipped=int(missing_id.sum()))
