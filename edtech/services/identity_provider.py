"""The app's own small OpenID Connect provider, so local accounts sign in through `st.login` too.

Why: Streamlit 1.67 cookies are read-only to the app; a sign-in that goes through `st.login` gets
Streamlit's signed auth cookie, so the session survives a reload. Local (password) accounts and the
one-click demo accounts therefore sign in through this provider, exactly like a district's SSO.

- Standard-library `ThreadingHTTPServer` in a daemon thread (`python -m edtech serve` starts it);
  an RS256 key generated at start, kept in memory only.
- Endpoints: `/.well-known/openid-configuration`, `/authorize` (code flow + PKCE S256; a small
  accessible Email/Password form), `/token` (client_secret_basic or _post, single-use codes valid
  60 s, exact redirect_uri, PKCE verifier), `/jwks`. Every path is also served under `/idp/`, so a
  reverse proxy may forward `/idp/…` as is; discovery then advertises the public authorize URL
  (`public_url`) while the token and JWKS endpoints stay on the internal address Streamlit calls.
- Clients: `edtech-local` (password form) and `edtech-demo-<role>` (no form: the demo account of that
  role, only while demo mode is on at request time). Client secrets are derived from the server secret.
- Streamlit refuses provider names with an underscore: the sections are `[auth.local]` and
  `[auth.demo-director]`… (see `LOCAL_PROVIDER`, `DEMO_PROVIDERS`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy.engine import Engine

from edtech.core.access import Role
from edtech.core.secret_key import derived_secret
from edtech.services import accounts
from edtech.services.accounts import SignInError

LOG = logging.getLogger(__name__)

LOCAL_PROVIDER = "local"  # st.login("local")
LOCAL_CLIENT_ID = "edtech-local"
# st.login(name) of the one-click demo sign-ins (Streamlit refuses "_" in provider names)
DEMO_PROVIDERS: dict[Role, str] = {role: f"demo-{role.value}" for role in Role}
DEMO_CLIENT_IDS: dict[Role, str] = {role: f"edtech-demo-{role.value}" for role in Role}
RESERVED_PROVIDERS = frozenset({LOCAL_PROVIDER, *DEMO_PROVIDERS.values()})

CODE_SECONDS = 60
ID_TOKEN_SECONDS = 8 * 3600  # a session ends after 8 hours (issue 12)
MAX_FORM_BYTES = 16_384
PATH_PREFIX = "/idp"  # a reverse proxy may forward /idp/... without stripping it


def provider_label(name: str) -> str:
    """The button label of an SSO section: `google` -> "Google", `sso-test` -> "Sso Test"."""
    return name.replace("-", " ").replace("_", " ").title()


def client_secret(client_id: str) -> str:
    return derived_secret(f"oidc-client:{client_id}")


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    redirect_uri: str
    demo_role: Role | None = None  # a demo client signs in that demo account without a form


@dataclass(frozen=True)
class Identity:
    email: str
    name: str


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    identity: Identity
    auth_time: int
    expires: float = field(default_factory=lambda: time.monotonic() + CODE_SECONDS)


Authenticate = Callable[[str, str], Identity]  # (email, password) -> identity, or raise SignInError
DemoIdentity = Callable[[Role], Identity | None]  # the demo account of a role, None outside demo mode


class IdentityProvider:
    """An OpenID Connect provider on `host:port` (port 0 = any free port) in a daemon thread."""

    def __init__(self, clients: Iterable[Client], authenticate: Authenticate, *,
                 demo_identity: DemoIdentity | None = None, host: str = "127.0.0.1", port: int = 0,
                 public_url: str | None = None, title: str = "EdTech Compass") -> None:
        self.clients = {c.client_id: c for c in clients}
        self.authenticate = authenticate
        self.demo_identity = demo_identity
        self.title = title
        self._codes: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        bound_host, bound_port = self._server.server_address[:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        self.public_url = (public_url or self.base_url).rstrip("/")
        self.issuer = self.base_url
        self._thread: threading.Thread | None = None
        redirect_origins = sorted({_origin(c.redirect_uri) for c in self.clients.values()})
        # a form's action and the redirect after it are both governed by form-action in Chromium
        self.form_csp = ("default-src 'none'; style-src 'sha256-" + _STYLE_HASH + "'; img-src 'none'; "
                         "form-action 'self' " + " ".join(redirect_origins) + "; frame-ancestors 'none'; "
                         "base-uri 'none'")

    # ----------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/.well-known/openid-configuration"

    def start(self) -> IdentityProvider:
        # a short poll interval makes stop() quick (shutdown waits for the serve loop's next poll)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="edtech-idp", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> IdentityProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- documents
    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.public_url}/authorize",
            "token_endpoint": f"{self.base_url}/token",
            "jwks_uri": f"{self.base_url}/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],  # Streamlit then always sends PKCE
            "claims_supported": ["iss", "aud", "sub", "email", "email_verified", "name", "iat", "exp",
                                 "auth_time", "nonce", "sid"],
        }

    def jwks(self) -> dict:
        return KeySet([self._key]).as_dict(private=False)

    # ----------------------------------------------------------------- codes and tokens
    def issue_code(self, client: Client, redirect_uri: str, code_challenge: str, nonce: str | None,
                   identity: Identity) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            now = time.monotonic()
            for stale in [k for k, g in self._codes.items() if g.expires < now]:
                del self._codes[stale]
            self._codes[code] = _Grant(client.client_id, redirect_uri, code_challenge, nonce, identity,
                                       int(time.time()))
        return code

    def redeem(self, client: Client, code: str, redirect_uri: str, code_verifier: str) -> dict:
        """The token response for a code; raises _OAuthError. A code is gone after one attempt."""
        with self._lock:
            grant = self._codes.pop(code, None)
        if grant is None or grant.expires < time.monotonic():
            raise _OAuthError("invalid_grant", "The code is unknown, used or expired.")
        if grant.client_id != client.client_id:
            raise _OAuthError("invalid_grant", "The code was issued to another client.")
        if redirect_uri != grant.redirect_uri:
            raise _OAuthError("invalid_grant", "redirect_uri does not match the authorization request.")
        if not (43 <= len(code_verifier) <= 128) or not hmac.compare_digest(_s256(code_verifier),
                                                                            grant.code_challenge):
            raise _OAuthError("invalid_grant", "The PKCE code_verifier does not match the code_challenge.")
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": client.client_id, "sub": grant.identity.email,
                  "email": grant.identity.email, "email_verified": True,
                  "name": grant.identity.name or grant.identity.email, "iat": now, "exp": now + ID_TOKEN_SECONDS,
                  "auth_time": grant.auth_time, "sid": secrets.token_urlsafe(16)}
        if grant.nonce:
            claims["nonce"] = grant.nonce
        id_token = jwt.encode({"alg": "RS256", "kid": self._key.kid, "typ": "JWT"}, claims, self._key)
        return {"access_token": secrets.token_urlsafe(32), "token_type": "Bearer", "expires_in": ID_TOKEN_SECONDS,
                "scope": "openid email profile", "id_token": id_token}


class _OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest()).rstrip(b"=").decode()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _with_query(url: str, params: Mapping[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


# ------------------------------------------------------------------------------- HTML
_STYLE = ("body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#1b1f24}"
          "label{display:block;margin-top:1rem;font-weight:600}"
          "input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}"
          "button{margin-top:1.25rem;padding:.6rem 1.2rem;font-size:1rem;background:#1f6feb;color:#fff;border:0;"
          "border-radius:.3rem}"
          "[role=alert]{color:#a40e26;background:#ffebe9;padding:.6rem;border-radius:.3rem}"
          "a{color:#0b57d0}")
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><main>{body}</main></body></html>")


_HIDDEN = ("client_id", "redirect_uri", "state", "nonce", "code_challenge", "code_challenge_method")


def _form_page(provider: IdentityProvider, params: Mapping[str, str], *, email: str = "", error: str = "") -> str:
    hidden = "".join(f'<input type="hidden" name="{n}" value="{html.escape(params.get(n, ""), quote=True)}">'
                     for n in _HIDDEN)
    alert = f'<p role="alert" id="signin-error">{html.escape(error)}</p>' if error else ""
    cancel = _with_query(params["redirect_uri"], {"error": "access_denied", "state": params.get("state", "")})
    described = ' aria-describedby="signin-error"' if error else ""
    return _page(f"Sign in · {provider.title}", (
        f"<h1>Sign in to {html.escape(provider.title)}</h1>{alert}"
        '<form method="post" action="authorize">'
        f"{hidden}"
        '<label for="email">Email</label>'
        f'<input id="email" name="email" type="email" autocomplete="username" required autofocus'
        f' value="{html.escape(email, quote=True)}"{described}>'
        '<label for="password">Password</label>'
        f'<input id="password" name="password" type="password" autocomplete="current-password" required{described}>'
        '<button type="submit">Sign in</button></form>'
        f'<p><a href="{html.escape(cancel, quote=True)}">Cancel and go back to the app</a></p>'))


def _error_page(provider: IdentityProvider, message: str) -> str:
    return _page(f"Sign-in problem · {provider.title}",
                 f'<h1>Sign-in problem</h1><p role="alert">{html.escape(message)}</p>')


# ------------------------------------------------------------------------------- HTTP
def _handler_for(provider: IdentityProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "EdTechIdP"
        sys_version = ""

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            LOG.debug("idp %s " + format, self.address_string(), *args)

        # ---- plumbing
        def _route(self) -> str:
            path = urlsplit(self.path).path
            if path == PATH_PREFIX or path.startswith(PATH_PREFIX + "/"):
                path = path[len(PATH_PREFIX):] or "/"
            return path

        def _send(self, status: int, body: bytes, content_type: str, extra: Mapping[str, str] = ()) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Pragma", "no-cache")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Referrer-Policy", "no-referrer")
            for k, v in dict(extra).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, payload: dict, extra: Mapping[str, str] = ()) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json", extra)

        def _html(self, status: int, text: str) -> None:
            self._send(status, text.encode(), "text/html; charset=utf-8",
                       {"Content-Security-Policy": provider.form_csp})

        def _redirect(self, location: str) -> None:
            self._send(302, b"", "text/plain", {"Location": location})

        def _form(self) -> dict[str, str] | None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_FORM_BYTES or not self.headers.get("Content-Type", "").startswith(
                    "application/x-www-form-urlencoded"):
                return None
            return dict(parse_qsl(self.rfile.read(length).decode("utf-8", "replace"), keep_blank_values=True))

        # ---- verbs
        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            route = self._route()
            if route == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif route == "/jwks":
                self._json(200, provider.jwks())
            elif route == "/authorize":
                self._authorize(dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True)), None)
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:  # noqa: N802
            route = self._route()
            form = self._form()
            if form is None:
                self._send(400, b"bad request", "text/plain")
            elif route == "/authorize":
                self._authorize(form, form)
            elif route == "/token":
                self._token(form)
            else:
                self._send(404, b"not found", "text/plain")

        # ---- authorization endpoint
        def _authorize(self, params: dict[str, str], posted: dict[str, str] | None) -> None:
            client = provider.clients.get(params.get("client_id", ""))
            redirect_uri = params.get("redirect_uri", "")
            if client is None or redirect_uri != client.redirect_uri:
                # never redirect to an unverified address: show the problem instead
                self._html(400, _error_page(provider, "This sign-in link is not valid (unknown client or "
                                                      "redirect address). Go back to the app and try again."))
                return
            state = params.get("state", "")
            problem = None
            if posted is None and params.get("response_type") != "code":
                problem = ("unsupported_response_type", "Only the authorization code flow is supported.")
            elif posted is None and "openid" not in params.get("scope", "").split():
                problem = ("invalid_scope", "The openid scope is required.")
            elif params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
                problem = ("invalid_request", "PKCE with S256 is required.")
            if problem:
                self._redirect(_with_query(redirect_uri, {"error": problem[0], "error_description": problem[1],
                                                          "state": state}))
                return
            if client.demo_role is not None:
                identity = provider.demo_identity(client.demo_role) if provider.demo_identity else None
                if identity is None:
                    self._html(403, _error_page(provider, "Demo accounts work only in demo mode."))
                    return
            elif posted is None:
                self._html(200, _form_page(provider, params))
                return
            else:
                email = posted.get("email", "")
                try:
                    identity = provider.authenticate(email, posted.get("password", ""))
                except SignInError as exc:
                    self._html(200, _form_page(provider, params, email=email, error=str(exc)))
                    return
            code = provider.issue_code(client, redirect_uri, params["code_challenge"], params.get("nonce") or None,
                                       identity)
            self._redirect(_with_query(redirect_uri, {"code": code, **({"state": state} if state else {})}))

        # ---- token endpoint
        def _client_from_request(self, form: dict[str, str]) -> Client:
            header = self.headers.get("Authorization", "")
            if header[:6].lower() == "basic ":
                try:
                    raw = base64.b64decode(header[6:].strip(), validate=True).decode()
                    cid, _, secret = raw.partition(":")
                    cid, secret = unquote_plus(cid), unquote_plus(secret)
                except (ValueError, UnicodeDecodeError):
                    raise _OAuthError("invalid_client", "Malformed client credentials.", 401) from None
                if "client_secret" in form:
                    raise _OAuthError("invalid_request", "Use one client authentication method.")
            else:
                cid, secret = form.get("client_id", ""), form.get("client_secret", "")
            client = provider.clients.get(cid)
            if client is None or not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
                raise _OAuthError("invalid_client", "Unknown client or wrong client secret.", 401)
            return client

        def _token(self, form: dict[str, str]) -> None:
            try:
                client = self._client_from_request(form)
                if form.get("grant_type") != "authorization_code":
                    raise _OAuthError("unsupported_grant_type", "Only authorization_code is supported.")
                payload = provider.redeem(client, form.get("code", ""), form.get("redirect_uri", ""),
                                          form.get("code_verifier", ""))
            except _OAuthError as exc:
                extra = {"WWW-Authenticate": 'Basic realm="edtech-idp"'} if exc.status == 401 else {}
                self._json(exc.status, {"error": exc.error, "error_description": exc.description}, extra)
                return
            self._json(200, payload)

    return Handler


# ------------------------------------------------------------------------------- the app's provider
def app_clients(redirect_uri: str) -> list[Client]:
    """The local password client and one client per demo role (demo clients check demo mode per request)."""
    ids = [(LOCAL_CLIENT_ID, None)] + [(DEMO_CLIENT_IDS[r], r) for r in Role]
    return [Client(cid, client_secret(cid), redirect_uri, role) for cid, role in ids]


def provider_sections(provider: IdentityProvider, *, demo: bool) -> dict[str, dict[str, str]]:
    """The `[auth.<name>]` sections Streamlit needs for this provider (demo sections only in demo mode)."""
    names = [(LOCAL_PROVIDER, LOCAL_CLIENT_ID)] + ([(DEMO_PROVIDERS[r], DEMO_CLIENT_IDS[r]) for r in Role]
                                                   if demo else [])
    return {name: {"client_id": cid, "client_secret": provider.clients[cid].client_secret,
                   "server_metadata_url": provider.metadata_url} for name, cid in names}


def start_for_app(engine: Engine, redirect_uri: str, *, host: str = "127.0.0.1", port: int = 0,
                  public_url: str | None = None) -> IdentityProvider:
    """Start the provider that signs local and demo accounts in against the app's database."""

    def authenticate(email: str, password: str) -> Identity:
        principal = accounts.authenticate_password(engine, email, password)
        return Identity(principal.email, principal.name or principal.email)

    def demo_identity(role: Role) -> Identity | None:
        if not accounts.demo_mode():
            return None
        email, _ = accounts.DEMO_ACCOUNTS[role]
        principal = accounts.principal_for(engine, email)
        if principal is None or not principal.demo or principal.role != role:
            return None
        return Identity(principal.email, principal.name or principal.email)

    return IdentityProvider(app_clients(redirect_uri), authenticate, demo_identity=demo_identity, host=host,
                            port=port, public_url=public_url).start()
