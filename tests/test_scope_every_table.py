"""A coordinator's slice holds no row of another school's students or of another school, in every table
of the District (a new contract table that is not cut fails here, not in a coordinator's browser)."""

from __future__ import annotations

from dataclasses import fields

import pandas as pd

from edtech.core.district import FRAME_COLUMNS, District, conform_frame
from edtech.core.scope import restrict_district

# tables that hold neither students nor schools: district facts every role may read
UNSCOPED = {"tools", "funding", "initiatives", "kpis"}
VALUE = {"object": "x", "float64": 1.0, "Int64": 1, "int64": 1, "boolean": True, "datetime64[ns]": pd.Timestamp("2026-01-05")}


def _two_school_district() -> District:
    frames = {}
    for name, columns in FRAME_COLUMNS.items():
        rows = []
        for i, school in enumerate(("MINE", "OTHER")):
            row = {c: VALUE[t] for c, t in columns.items()}
            row.update({k: v for k, v in {"school_id": school, "student_id": f"st-{school}",
                                          "tool_id": "T1", "device_id": f"d{i}", "staff_id": f"p{i}",
                                          "respondent_id": f"r{i}"}.items() if k in columns})
            rows.append(row)
        frames[name] = conform_frame(name, pd.DataFrame(rows))
    return District(**frames)


def test_every_table_is_cut_to_the_scope() -> None:
    whole = _two_school_district()
    mine = restrict_district(whole, frozenset({"MINE"}))
    for f in fields(District):
        if f.name not in FRAME_COLUMNS:
            continue
        frame = getattr(mine, f.name)
        if f.name in UNSCOPED:
            assert len(frame) == len(getattr(whole, f.name)), f.name
            continue
        assert len(frame) == 1, f"{f.name}: {len(frame)} rows in a one-school scope"
        if "student_id" in frame:
            assert set(frame["student_id"]) == {"st-MINE"}, f.name
        if "school_id" in frame:
            assert set(frame["school_id"]) == {"MINE"}, f.name
        assert "student_id" in frame or "school_id" in frame, f"{f.name}: not scoped by student or school"
