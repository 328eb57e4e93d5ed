"""The app's own OpenID Connect provider, driven over HTTP without a browser (what Streamlit's Authlib does)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from edtech.core.access import Role
from edtech.services import accounts, identity_provider
from edtech.services.identity_provider import DEMO_CLIENT_IDS, LOCAL_CLIENT_ID

REDIRECT = "http://localhost:8599/oauth2callback"
PASSWORD = "a long enough password"


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def _provider_and_engine(tmp_path_factory: pytest.TempPathFactory):
    """One provider (one RSA key, one database) for the module: starting them is the slow part."""
    from edtech.store import data

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDTECH_SECRET_KEY", "test-secret-key-for-the-provider")
        mp.delenv("EDTECH_DEMO", raising=False)
        eng = data.make_engine(f"sqlite:///{tmp_path_factory.mktemp('idp') / 'idp.db'}")
        data.init_db(eng)
        accounts.add_user(eng, "Ann@District.org", "director", password=PASSWORD, name="Ann Example")
        accounts.ensure_demo_accounts(eng)
        provider = identity_provider.start_for_app(eng, REDIRECT)
        yield provider, eng
        provider.stop()
        eng.dispose()


@pytest.fixture
def idp(_provider_and_engine, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EDTECH_SECRET_KEY", "test-secret-key-for-the-provider")
    monkeypatch.delenv("EDTECH_DEMO", raising=False)
    return _provider_and_engine[0]


@pytest.fixture
def idp_engine(_provider_and_engine):
    return _provider_and_engine[1]


class Flow:
    """One authorization request with its PKCE verifier, state and nonce."""

    def __init__(self, idp, client_id: str = LOCAL_CLIENT_ID, redirect_uri: str = REDIRECT) -> None:
        self.idp, self.client_id, self.redirect_uri = idp, client_id, redirect_uri
        self.verifier = secrets.token_urlsafe(48)
        self.state, self.nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        self.params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                       "scope": "openid email profile", "state": self.state, "nonce": self.nonce,
                       "code_challenge": _s256(self.verifier), "code_challenge_method": "S256",
                       "prompt": "select_account"}

    def get(self) -> httpx.Response:
        return httpx.get(f"{self.idp.base_url}/authorize", params=self.params)

    def post(self, email: str, password: str) -> httpx.Response:
        form = {k: self.params[k] for k in ("client_id", "redirect_uri", "state", "nonce", "code_challenge",
                                             "code_challenge_method")}
        return httpx.post(f"{self.idp.base_url}/authorize", data={**form, "email": email, "password": password})

    def code_from(self, response: httpx.Response) -> str:
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        assert location.startswith(self.redirect_uri + "?")
        query = parse_qs(urlsplit(location).query)
        assert query["state"] == [self.state]
        return query["code"][0]

    def token(self, code: str, *, verifier: str | None = None, secret: str | None = None,
              redirect_uri: str | None = None, basic: bool = True) -> httpx.Response:
        secret = identity_provider.client_secret(self.client_id) if secret is None else secret
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri or self.redirect_uri,
                "code_verifier": verifier or self.verifier}
        if basic:
            return httpx.post(f"{self.idp.base_url}/token", data=data, auth=(self.client_id, secret))
        return httpx.post(f"{self.idp.base_url}/token", data={**data, "client_id": self.client_id,
                                                               "client_secret": secret})


def _claims(idp, id_token: str) -> dict:
    jwks = httpx.get(f"{idp.base_url}/jwks").json()
    assert all("d" not in k for k in jwks["keys"])  # public keys only
    return jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims


def test_discovery_lists_what_streamlit_needs(idp):
    meta = httpx.get(idp.metadata_url).json()
    assert meta["issuer"] == idp.base_url
    assert meta["authorization_endpoint"] == f"{idp.base_url}/authorize"
    assert meta["token_endpoint"] == f"{idp.base_url}/token"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {"client_secret_basic", "client_secret_post"} <= set(meta["token_endpoint_auth_methods_supported"])
    assert httpx.get(meta["jwks_uri"]).json()["keys"][0]["kty"] == "RSA"


def test_public_url_advertises_the_authorize_endpoint_behind_the_proxy(monkeypatch):
    monkeypatch.setenv("EDTECH_SECRET_KEY", "k" * 32)
    with identity_provider.IdentityProvider([], lambda e, p: None,
                                            public_url="https://compass.example.org/idp/") as idp:
        meta = httpx.get(idp.metadata_url).json()
        assert meta["authorization_endpoint"] == "https://compass.example.org/idp/authorize"
        assert meta["token_endpoint"].startswith(idp.base_url)  # Streamlit calls it on the internal address
        # a proxy that forwards /idp/... unchanged reaches the same endpoints
        assert httpx.get(f"{idp.base_url}/idp/.well-known/openid-configuration").json() == meta


def test_form_is_accessible_and_locked_down(idp):
    r = Flow(idp).get()
    assert r.status_code == 200
    page = r.text
    assert re.search(r'<label for="email">Email</label>\s*<input id="email"', page)
    assert re.search(r'<label for="password">Password</label>\s*<input id="password"[^>]*type="password"', page)
    assert '<button type="submit">Sign in</button>' in page
    assert '<html lang="en">' in page
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert "form-action 'self' http://localhost:8599" in csp


def test_password_sign_in_issues_a_verifiable_id_token(idp):
    flow = Flow(idp)
    code = flow.code_from(flow.post("ANN@district.org", PASSWORD))  # emails match case-insensitively
    r = flow.token(code)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    claims = _claims(idp, r.json()["id_token"])
    assert claims["iss"] == idp.issuer and claims["aud"] == LOCAL_CLIENT_ID
    assert claims["sub"] == claims["email"] == "ann@district.org"
    assert claims["name"] == "Ann Example" and claims["nonce"] == flow.nonce
    assert claims["exp"] - claims["iat"] == 8 * 3600
    assert abs(claims["auth_time"] - time.time()) < 60 and len(claims["sid"]) >= 16


def test_client_secret_post_works_too(idp):
    flow = Flow(idp)
    r = flow.token(flow.code_from(flow.post("ann@district.org", PASSWORD)), basic=False)
    assert r.status_code == 200 and "id_token" in r.json()


def test_wrong_password_reshows_the_form_with_the_reason_escaped(idp):
    flow = Flow(idp)
    r = flow.post('<b>ann</b>@district.org"', "wrong password!")
    assert r.status_code == 200
    assert '<p role="alert" id="signin-error">The email or password is not right.</p>' in r.text
    assert "<b>ann</b>" not in r.text and "&lt;b&gt;ann&lt;/b&gt;@district.org&quot;" in r.text
    r = flow.post("ann@district.org", "wrong password!")
    assert "The email or password is not right." in r.text and "location" not in r.headers


def test_five_failures_lock_the_account(idp, idp_engine):
    accounts.add_user(idp_engine, "locked@district.org", "viewer", password=PASSWORD)
    flow = Flow(idp)
    for _ in range(accounts.MAX_FAILED):
        assert "not right" in flow.post("locked@district.org", "wrong password!").text
    r = flow.post("locked@district.org", PASSWORD)  # the right password no longer gets in
    assert r.status_code == 200 and "locked" in unescape(r.text)
    assert "location" not in r.headers
    accounts.unlock_user(idp_engine, "locked@district.org")
    assert flow.code_from(flow.post("locked@district.org", PASSWORD))


def test_pkce_mismatch_is_refused(idp):
    flow = Flow(idp)
    code = flow.code_from(flow.post("ann@district.org", PASSWORD))
    r = flow.token(code, verifier=secrets.token_urlsafe(48))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_authorize_without_pkce_is_refused(idp):
    flow = Flow(idp)
    del flow.params["code_challenge"]
    r = flow.get()
    assert r.status_code == 302 and parse_qs(urlsplit(r.headers["location"]).query)["error"] == ["invalid_request"]


def test_a_code_works_once(idp):
    flow = Flow(idp)
    code = flow.code_from(flow.post("ann@district.org", PASSWORD))
    assert flow.token(code).status_code == 200
    r = flow.token(code)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_a_code_expires(idp, monkeypatch):
    flow = Flow(idp)
    code = flow.code_from(flow.post("ann@district.org", PASSWORD))
    real = time.monotonic
    monkeypatch.setattr(identity_provider.time, "monotonic", lambda: real() + identity_provider.CODE_SECONDS + 1)
    assert flow.token(code).json()["error"] == "invalid_grant"


def test_wrong_client_secret_is_refused_and_burns_nothing(idp):
    flow = Flow(idp)
    code = flow.code_from(flow.post("ann@district.org", PASSWORD))
    r = flow.token(code, secret="not-the-secret")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert flow.token(code, secret="", basic=False).status_code == 401
    assert flow.token(code).status_code == 200  # the code was still unused


def test_a_code_of_one_client_is_refused_to_another(idp, monkeypatch):
    monkeypatch.setenv("EDTECH_DEMO", "1")
    flow = Flow(idp)
    code = flow.code_from(flow.post("ann@district.org", PASSWORD))
    other = Flow(idp, DEMO_CLIENT_IDS[Role.DIRECTOR])
    other.verifier = flow.verifier
    assert other.token(code).json()["error"] == "invalid_grant"


def test_redirect_uri_mismatch_is_refused(idp):
    r = Flow(idp, redirect_uri="http://evil.example/oauth2callback").get()
    assert r.status_code == 400 and "location" not in r.headers and "not valid" in r.text
    r = Flow(idp, redirect_uri="http://localhost:8599/oauth2callback/x").post("ann@district.org", PASSWORD)
    assert r.status_code == 400 and "location" not in r.headers
    flow = Flow(idp)
    code = flow.code_from(flow.post("ann@district.org", PASSWORD))
    r = flow.token(code, redirect_uri="http://localhost:8599/other")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_unknown_client_is_refused(idp):
    r = Flow(idp, client_id="someone-else").get()
    assert r.status_code == 400 and "location" not in r.headers


def test_demo_client_refused_outside_demo_mode(idp):
    flow = Flow(idp, DEMO_CLIENT_IDS[Role.DIRECTOR])
    r = flow.get()
    assert r.status_code == 403 and "Demo accounts work only in demo mode" in r.text
    assert "location" not in r.headers
    # a demo account has no password either
    r = Flow(idp).post(accounts.DEMO_ACCOUNTS[Role.DIRECTOR][0], "anything at all")
    assert "location" not in r.headers


@pytest.mark.parametrize("role", list(Role))
def test_demo_client_signs_in_its_demo_account_in_demo_mode(idp, monkeypatch, role):
    monkeypatch.setenv("EDTECH_DEMO", "1")
    flow = Flow(idp, DEMO_CLIENT_IDS[role])
    r = flow.token(flow.code_from(flow.get()))  # no form: straight back to the app
    assert r.status_code == 200, r.text
    claims = _claims(idp, r.json()["id_token"])
    assert claims["email"] == accounts.DEMO_ACCOUNTS[role][0] and claims["aud"] == DEMO_CLIENT_IDS[role]
    assert claims["name"] == accounts.DEMO_ACCOUNTS[role][1]


def test_demo_client_refused_when_the_demo_account_is_not_a_demo_account(idp, idp_engine, monkeypatch):
    monkeypatch.setenv("EDTECH_DEMO", "1")
    email = accounts.DEMO_ACCOUNTS[Role.BOARD][0]
    accounts.remove_user(idp_engine, email)
    try:
        assert Flow(idp, DEMO_CLIENT_IDS[Role.BOARD]).get().status_code == 403
        accounts.add_user(idp_engine, email, "board", password=PASSWORD)  # same email, not a demo account
        assert Flow(idp, DEMO_CLIENT_IDS[Role.BOARD]).get().status_code == 403
    finally:
        accounts.remove_user(idp_engine, email)
        accounts.ensure_demo_accounts(idp_engine)


def test_client_secrets_are_derived_from_the_server_secret(monkeypatch):
    monkeypatch.setenv("EDTECH_SECRET_KEY", "one")
    first = identity_provider.client_secret(LOCAL_CLIENT_ID)
    assert first != identity_provider.client_secret(DEMO_CLIENT_IDS[Role.VIEWER])
    monkeypatch.setenv("EDTECH_SECRET_KEY", "two")
    assert identity_provider.client_secret(LOCAL_CLIENT_ID) != first


def test_serve_writes_private_secrets_with_the_admins_sso_sections(tmp_path, monkeypatch):
    import tomllib

    from edtech.cli import serve

    monkeypatch.setenv("EDTECH_SECRET_KEY", "k" * 32)
    admin = {"other": "kept", "auth": {"cookie_secret": "theirs", "google": {
        "client_id": "g", "client_secret": "s", "server_metadata_url": "https://accounts.google.com/x",
        "client_kwargs": {"prompt": "login"}}, "local": {"client_id": "hijack"}}}
    own = {"local": {"client_id": LOCAL_CLIENT_ID, "client_secret": "c", "server_metadata_url": "http://127.0.0.1:1/"}}
    warnings = []
    doc = serve.build_secrets(admin, REDIRECT, own, warn=warnings.append)
    out = tmp_path / "auth" / "secrets.toml"
    serve.write_private(out, serve.to_toml(doc))
    assert out.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "auth" / ".gitignore").read_text() == "*\n"
    read = tomllib.loads(out.read_text())
    assert read["other"] == "kept"
    assert read["auth"]["redirect_uri"] == REDIRECT and read["auth"]["cookie_secret"] == "theirs"
    assert read["auth"]["google"]["client_kwargs"] == {"prompt": "login"}
    assert read["auth"]["local"]["client_id"] == LOCAL_CLIENT_ID  # the app's own name is reserved
    assert warnings and "[auth.local]" in warnings[0]
    assert serve.sso_names(read) == ["google"]


def test_serve_redirect_uri_local_public_or_the_admins():
    from edtech.cli.serve import app_redirect_uri

    assert app_redirect_uri({}, 8501, None) == "http://localhost:8501/oauth2callback"
    assert app_redirect_uri({}, 8501, "https://compass.example.org/idp") == "https://compass.example.org/oauth2callback"
    assert app_redirect_uri({}, 8501, "https://x.org/compass/idp") == "https://x.org/compass/oauth2callback"
    admin = {"auth": {"redirect_uri": "https://edtech.example.org:{port}/oauth2callback"}}
    assert app_redirect_uri(admin, 9000, None) == "https://edtech.example.org:9000/oauth2callback"
