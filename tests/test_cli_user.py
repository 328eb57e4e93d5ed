"""`python -m edtech user …`: accounts from the command line; passwords only from standard input."""

from __future__ import annotations

import io
import json

import pytest

from edtech.cli.parser import main
from edtech.services import accounts
from edtech.services.accounts import SignInError

PASSWORD = "correct horse battery staple"


@pytest.fixture
def cli(engine, empty_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Run the CLI in-process on the test database; `stdin` is what standard input holds."""

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(["--db", empty_db_url, *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_add_with_password_from_stdin_then_sign_in(cli, engine):
    code, out, _ = cli("user", "add", "Ann@District.org", "--role", "director", "--name", "Ann Example",
                       "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0 and "ann@district.org" in out and "Director" in out
    principal = accounts.authenticate_password(engine, "ann@district.org", PASSWORD)  # newline not part of it
    assert principal.name == "Ann Example" and principal.role.value == "director"


def test_password_is_never_an_argument(cli, engine):
    for argv in (["--password", PASSWORD], [f"--password={PASSWORD}"], ["--password-stdin", PASSWORD]):
        code, _, err = cli("user", "add", "bob@district.org", "--role", "viewer", *argv, stdin=PASSWORD + "\n")
        assert code == 2, argv
        assert "error" in err
    assert accounts.list_users(engine) == []


def test_add_needs_a_sign_in_choice(cli, engine):
    code, _, err = cli("user", "add", "bob@district.org", "--role", "viewer")
    assert code == 2 and "--password-stdin" in err and "--sso-only" in err
    code, _, err = cli("user", "add", "bob@district.org", "--role", "viewer", "--sso-only", "--password-stdin")
    assert code == 2
    assert accounts.list_users(engine) == []


def test_sso_only_account_has_no_password(cli, engine):
    assert cli("user", "add", "sso@district.org", "--role", "board", "--sso-only")[0] == 0
    [info] = accounts.list_users(engine)
    assert not info.has_password
    with pytest.raises(SignInError):
        accounts.authenticate_password(engine, "sso@district.org", "")
    assert accounts.principal_for(engine, "SSO@district.org").role.value == "board"


def test_list_set_role_unlock_remove(cli, engine):
    assert cli("user", "add", "ann@district.org", "--role", "director", "--password-stdin", stdin=PASSWORD)[0] == 0
    assert cli("user", "add", "cat@district.org", "--role", "coordinator", "--schools", "0101,0102", "--sso-only",
               "--name", "Cat Coordinator")[0] == 0

    code, out, _ = cli("user", "list")
    assert code == 0
    header = out.splitlines()[0]
    for label in ("Email", "Name", "Role", "Schools", "Signs in with", "Locked until"):
        assert label in header
    assert "School coordinator" in out and "0101, 0102" in out and "single sign-on" in out

    code, out, _ = cli("user", "list", "--format", "json")
    rows = {r["email"]: r for r in json.loads(out)}
    assert rows["cat@district.org"]["role"] == "coordinator"
    assert rows["cat@district.org"]["schools"] == ["0101", "0102"]
    assert rows["ann@district.org"]["sign_in"] == "password" and rows["cat@district.org"]["sign_in"] == "sso"

    code, out, _ = cli("user", "set-role", "CAT@district.org", "coordinator", "--schools", "0103")
    assert code == 0 and "0103" in out
    assert accounts.principal_for(engine, "cat@district.org").schools == {"0103"}
    assert cli("user", "set-role", "cat@district.org", "board")[0] == 0
    assert accounts.principal_for(engine, "cat@district.org").role.value == "board"

    for _ in range(accounts.MAX_FAILED):
        with pytest.raises(SignInError):
            accounts.authenticate_password(engine, "ann@district.org", "wrong password")
    with pytest.raises(SignInError, match="locked"):
        accounts.authenticate_password(engine, "ann@district.org", PASSWORD)
    assert json.loads(cli("user", "list", "--format", "json")[1])[0]["locked_until"] is not None
    assert cli("user", "unlock", "ann@district.org")[0] == 0
    assert accounts.authenticate_password(engine, "ann@district.org", PASSWORD).email == "ann@district.org"

    assert cli("user", "remove", "cat@district.org")[0] == 0
    assert [u.email for u in accounts.list_users(engine)] == ["ann@district.org"]


def test_set_password_from_stdin(cli, engine):
    assert cli("user", "add", "ann@district.org", "--role", "viewer", "--sso-only")[0] == 0
    code, _, err = cli("user", "set-password", "ann@district.org")
    assert code == 2 and "--password-stdin" in err
    assert cli("user", "set-password", "ann@district.org", "--password-stdin", stdin="another long secret\n")[0] == 0
    assert accounts.authenticate_password(engine, "ann@district.org", "another long secret")


def test_refusals_exit_2_with_the_message(cli):
    code, _, err = cli("user", "remove", "nobody@district.org")
    assert code == 2 and "no account for nobody@district.org" in err and "Traceback" not in err
    code, _, err = cli("user", "add", "short@district.org", "--role", "viewer", "--password-stdin", stdin="short\n")
    assert code == 2 and "too short" in err
    code, _, err = cli("user", "add", "empty@district.org", "--role", "viewer", "--password-stdin", stdin="")
    assert code == 2 and "no password" in err
    code, _, err = cli("user", "add", "not-an-email", "--role", "viewer", "--sso-only")
    assert code == 2 and "not an email" in err
    assert cli("user", "add", "dup@district.org", "--role", "viewer", "--sso-only")[0] == 0
    code, _, err = cli("user", "add", "DUP@district.org", "--role", "viewer", "--sso-only")
    assert code == 2 and "already exists" in err
    code, _, _ = cli("user", "add", "x@district.org", "--role", "superuser", "--sso-only")
    assert code == 2


def test_a_non_director_cannot_manage_accounts(cli, engine):
    assert cli("user", "add", "vic@district.org", "--role", "viewer", "--sso-only")[0] == 0
    code, _, err = cli("--as", "vic@district.org", "user", "add", "eve@district.org", "--role", "director",
                       "--sso-only")
    assert code == 2 and "cannot" in err
    assert [u.email for u in accounts.list_users(engine)] == ["vic@district.org"]
