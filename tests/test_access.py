"""Access without Streamlit: the permission matrix, accounts, the coordinator import guard, sessions, audit."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from edtech.core.access import PAGES, PERMISSIONS, SYSTEM, AccessDenied, Action, Principal, Role, scope_for
from edtech.services import accounts, audit, sessions
from edtech.services.dataset import import_any
from edtech.store import data

DIRECTOR = Principal(email="dana@district.org", role=Role.DIRECTOR)
BOARD = Principal(email="blake@district.org", role=Role.BOARD)
VIEWER = Principal(email="vic@district.org", role=Role.VIEWER)


def coordinator(*schools: str) -> Principal:
    return Principal(email="casey@district.org", role=Role.COORDINATOR, schools=frozenset(schools))


# ------------------------------------------------------------------ the matrix
def test_every_action_and_page_names_known_roles_and_director_can_do_everything():
    assert set(PERMISSIONS) == set(Action)
    for allowed in (*PERMISSIONS.values(), *PAGES.values()):
        assert allowed <= set(Role)
    assert all(DIRECTOR.can(a) for a in Action) and all(DIRECTOR.can_open(p) for p in PAGES)


def test_board_and_viewer_see_aggregates_only_and_viewer_exports_nothing():
    for who in (BOARD, VIEWER):
        assert not who.can(Action.VIEW_STUDENTS) and not who.can(Action.EXPORT_STUDENTS)
        assert not who.can(Action.IMPORT) and not who.can(Action.SAVE_SETTINGS)
        assert not who.can_open("at_risk") and not who.can_open("data") and not who.can_open("admin")
    assert not VIEWER.can(Action.EXPORT_AGGREGATES) and not VIEWER.can(Action.BOARD_REPORT)
    assert not VIEWER.can(Action.EDIT_BUDGET) and not VIEWER.can(Action.SAVE_SCENARIO)
    with pytest.raises(AccessDenied, match="viewer cannot"):
        VIEWER.require(Action.EDIT_BUDGET)


def test_a_coordinator_scope_is_cut_to_the_assigned_schools():
    c = coordinator("0101", "0102")
    assert scope_for(c, None) == {"0101", "0102"}
    assert scope_for(c, frozenset({"0101", "0999"})) == {"0101"}
    assert scope_for(c, frozenset({"0999"})) == frozenset()      # another school: nothing
    assert scope_for(coordinator(), None) == frozenset()         # no schools assigned: nothing
    assert scope_for(BOARD, frozenset({"0101"})) == {"0101"} and scope_for(BOARD, None) is None


def test_readme_role_table_is_generated_from_the_matrix():
    from pathlib import Path

    from edtech.core.access import permission_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert permission_table() in readme, "README's role table differs from edtech.core.access.permission_table()"


# ------------------------------------------------------------------ accounts
def test_accounts_match_emails_case_insensitively_and_demo_accounts_need_demo_mode(engine, monkeypatch):
    accounts.add_user(engine, "Pat.Smith@District.ORG", "board", password=None)
    assert accounts.principal_for(engine, "pat.smith@district.org").role == Role.BOARD
    assert accounts.principal_for(engine, "  PAT.SMITH@district.org ").role == Role.BOARD
    assert accounts.principal_for(engine, "nobody@district.org") is None
    with pytest.raises(accounts.AccountError, match="already exists"):
        accounts.add_user(engine, "pat.smith@district.org", "viewer")
    monkeypatch.delenv("EDTECH_DEMO", raising=False)
    accounts.ensure_demo_accounts(engine)
    demo_email = accounts.DEMO_ACCOUNTS[Role.DIRECTOR][0]
    assert accounts.principal_for(engine, demo_email) is None
    monkeypatch.setenv("EDTECH_DEMO", "1")
    assert accounts.principal_for(engine, demo_email).role == Role.DIRECTOR


def test_only_a_director_manages_accounts(engine):
    for who in (BOARD, VIEWER, coordinator("0101")):
        with pytest.raises(AccessDenied):
            accounts.add_user(engine, "x@district.org", "director", actor=who)
        with pytest.raises(AccessDenied):
            accounts.list_users(engine, actor=who)


def test_passwords_are_argon2_and_five_failures_lock_for_fifteen_minutes(engine):
    accounts.add_user(engine, "t@district.org", "coordinator", password="a long passphrase")
    from sqlmodel import Session

    from edtech.store.models import Account

    with Session(engine) as s:
        assert s.get(Account, "t@district.org").password_hash.startswith("$argon2id$")
    assert accounts.authenticate_password(engine, "T@District.org", "a long passphrase").email == "t@district.org"
    for _ in range(accounts.MAX_FAILED):
        with pytest.raises(accounts.SignInError, match="not right"):
            accounts.authenticate_password(engine, "t@district.org", "wrong")
    with pytest.raises(accounts.SignInError, match="locked"):  # even the right password, while locked
        accounts.authenticate_password(engine, "t@district.org", "a long passphrase")
    with Session(engine) as s:
        locked = s.get(Account, "t@district.org").locked_until
    locked = locked if locked.tzinfo else locked.replace(tzinfo=dt.UTC)
    assert dt.timedelta(minutes=14) < locked - dt.datetime.now(dt.UTC) <= dt.timedelta(minutes=15)
    accounts.unlock_user(engine, "t@district.org")
    assert accounts.authenticate_password(engine, "t@district.org", "a long passphrase")
    refused = audit.read(engine, action="sign-in refused")
    assert len(refused) == accounts.MAX_FAILED + 1


# ------------------------------------------------------------------ coordinator imports
@pytest.fixture
def two_schools(engine):
    files = {
        "schools": "school_id,school_name,level\n0101,Adams,elementary\n0202,Baker,middle\n",
        "students": "student_id,school_id,grade_level\nS1,0101,3\nS2,0101,4\nS3,0202,7\n",
        "tools": "tool_id,tool_name\nT1,Mathigo\n",
    }
    for kind, text in files.items():
        assert data.import_bytes(engine, kind, f"{kind}.csv", text.encode()).ok
    return engine


def _import(engine, tmp_path, kind, text, principal):
    path = tmp_path / f"{kind}.csv"
    path.write_text(text)
    return import_any(engine, kind, path, principal=principal)[0]


def test_coordinator_imports_their_schools_rows_only(two_schools, tmp_path):
    engine, mine = two_schools, coordinator("0101")
    ok = _import(engine, tmp_path, "usage", "student_id,tool_id,date,minutes\nS1,T1,2025-09-08,20\n", mine)
    assert ok.ok and ok.rows_stored == 1
    bad = _import(engine, tmp_path, "usage",
                  "student_id,tool_id,date,minutes\nS1,T1,2025-09-09,20\nS3,T1,2025-09-09,20\n", mine)
    assert not bad.ok and bad.rows_stored == 0
    assert any("line 3" in line and "S3" in line for line in bad.error_lines())
    assert data.table_counts(engine)["usage"] == 1            # nothing of the rejected file was written


@pytest.mark.parametrize(("kind", "text", "why"), [
    ("tools", "tool_id,tool_name\nT2,Other\n", "only the director"),
    ("funding", "fiscal_year,source,amount\n2026,title_iv_a,1000\n", "only the director"),
    ("licenses", "tool_id,school_id,seats,annual_cost,start_date,end_date\nT1,,100,1000,2025-07-01,2026-06-30\n",
     "district-wide"),
    ("licenses", "tool_id,school_id,seats,annual_cost,start_date,end_date\nT1,0202,100,1000,2025-07-01,2026-06-30\n",
     "not for one of your schools"),
    ("students", "student_id,school_id,grade_level\nS3,0101,7\n", "not enrolled at one of your schools"),  # moving in
    ("students", "student_id,school_id,grade_level\nS1,0202,3\n", "not enrolled at one of your schools"),  # moving out
    ("schools", "school_id,school_name\n0202,Renamed\n", "not for one of your schools"),
])
def test_coordinator_import_refusals_name_the_row(two_schools, tmp_path, kind, text, why):
    before = data.table_counts(two_schools)
    report = _import(two_schools, tmp_path, kind, text, coordinator("0101"))
    assert not report.ok
    assert any(why in line and "line 2" in line for line in report.error_lines()), report.error_lines()
    assert data.table_counts(two_schools) == before
    assert audit.read(two_schools, action="import rejected")["actor"].iloc[0] == "casey@district.org"


def test_board_and_viewer_cannot_import(two_schools, tmp_path):
    for who in (BOARD, VIEWER):
        with pytest.raises(AccessDenied):
            _import(two_schools, tmp_path, "tools", "tool_id,tool_name\nT9,X\n", who)


def test_cli_acts_as_a_named_account(two_schools, tmp_path, empty_db_url):
    accounts.add_user(two_schools, "casey@district.org", "coordinator", schools=["0101"])
    path = tmp_path / "tools.csv"
    path.write_text("tool_id,tool_name\nT5,Five\n")
    run = [sys.executable, "-m", "edtech", "--db", empty_db_url]
    refused = subprocess.run([*run, "import", "tools", str(path), "--as", "CASEY@district.org"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 3 and "only the director" in refused.stderr
    unknown = subprocess.run([*run, "--as", "nobody@district.org", "import", "tools", str(path)],
                             capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "no usable account" in unknown.stderr
    director = subprocess.run([*run, "import", "tools", str(path)], capture_output=True, text=True, timeout=120)
    assert director.returncode == 0
    trail = audit.read(two_schools)
    assert {"casey@district.org"} <= set(trail["actor"]) and any(a.startswith("cli") for a in trail["actor"])


# ------------------------------------------------------------------ settings and scenarios
def test_settings_are_director_only_and_scenarios_belong_to_their_owner(engine):
    from edtech.services import budget as budget_service
    from edtech.services import roi as roi_service

    for who in (BOARD, VIEWER, coordinator("0101")):
        with pytest.raises(AccessDenied):
            roi_service.save_weights(engine, {"utilization": 1.0}, who)
    roi_service.save_weights(engine, {"utilization": 1.0}, DIRECTOR)
    spec = budget_service.default_spec("Board plan")
    budget_service.save_scenario(engine, spec, BOARD)
    other_board = Principal(email="other@district.org", role=Role.BOARD)
    with pytest.raises(AccessDenied, match="someone else"):
        budget_service.delete_saved_scenario(engine, "Board plan", other_board)
    with pytest.raises(AccessDenied, match="someone else"):
        budget_service.save_scenario(engine, spec, other_board)
    with pytest.raises(AccessDenied):
        budget_service.save_scenario(engine, budget_service.default_spec("Mine"), VIEWER)
    budget_service.delete_saved_scenario(engine, "Board plan", DIRECTOR)
    assert budget_service.saved_scenarios(engine) == []
    actions = list(audit.read(engine)["action"])
    assert actions.count("settings changed") == 1 and "scenario saved" in actions and "scenario deleted" in actions


# ------------------------------------------------------------------ sessions and the audit trail
def test_sessions_end_after_eight_hours_or_thirty_idle_minutes(engine):
    now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    claims = {"iss": "idp", "sub": "a@x.org", "iat": int(now.timestamp()), "sid": "s1"}
    assert sessions.check_session(engine, claims, "a@x.org", now=now) == sessions.NEW
    assert sessions.check_session(engine, claims, "a@x.org", now=now + dt.timedelta(minutes=29)) is None
    assert sessions.check_session(engine, claims, "a@x.org", now=now + dt.timedelta(minutes=58)) is None
    assert sessions.check_session(engine, claims, "a@x.org", now=now + dt.timedelta(minutes=89)) == "idle"
    assert sessions.check_session(engine, claims, "a@x.org", now=now + dt.timedelta(minutes=90)) == "signed out"
    later = {**claims, "sid": "s2", "iat": int((now + dt.timedelta(hours=1)).timestamp())}
    assert sessions.check_session(engine, later, "a@x.org", now=now + dt.timedelta(hours=1)) == sessions.NEW
    assert sessions.check_session(engine, later, "a@x.org", now=now + dt.timedelta(hours=9, minutes=1)) == "expired"
    third = {**claims, "sid": "s3"}
    sessions.check_session(engine, third, "a@x.org", now=now)
    sessions.end_session(engine, third, now=now + dt.timedelta(minutes=1))
    assert sessions.check_session(engine, third, "a@x.org", now=now + dt.timedelta(minutes=2)) == "signed out"


def test_views_are_recorded_once_per_session_page_scope_and_hour(engine):
    at = dt.datetime(2026, 3, 2, 9, 5, tzinfo=dt.UTC)
    c = coordinator("0101")
    assert audit.record_view(engine, c, "adoption", c.scope, "sess", now=at)
    assert not audit.record_view(engine, c, "adoption", c.scope, "sess", now=at + dt.timedelta(minutes=30))
    assert audit.record_view(engine, c, "adoption", frozenset({"0101", "0102"}), "sess", now=at)
    assert audit.record_view(engine, c, "tool_roi", c.scope, "sess", now=at)
    assert audit.record_view(engine, c, "adoption", c.scope, "sess", now=at + dt.timedelta(hours=1))
    assert audit.record_view(engine, c, "adoption", c.scope, "other", now=at)
    views = audit.read(engine, action="viewed")
    assert len(views) == 5 and set(views["scope"]) == {"0101", "0101,0102"}


def test_the_audit_trail_is_read_by_the_director_only_and_has_no_delete(engine):
    for who in (BOARD, VIEWER, coordinator("0101")):
        with pytest.raises(AccessDenied):
            audit.read(engine, actor=who)
    public = [n for n in dir(audit) if not n.startswith("_")]
    assert not [n for n in public if any(w in n.lower() for w in ("delete", "update", "remove", "purge"))]
    assert audit.actor_name(SYSTEM).startswith("cli")
