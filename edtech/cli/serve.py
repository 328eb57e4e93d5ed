"""`python -m edtech serve`: the app with sign-in (Streamlit + the app's own OpenID Connect provider).

Writes the sign-in secrets Streamlit reads (regenerated at every start, mode 0600): `[auth]`
redirect_uri and cookie secret, `[auth.local]` (email + password through the app's provider),
`[auth.demo-<role>]` in demo mode, and every SSO provider an administrator configured in
`.streamlit/secrets.toml` (theirs win for redirect_uri / cookie_secret). Then starts the provider
in a thread and `streamlit run app.py` as a child process, and exits with the child's code.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlsplit

from edtech.cli.exit_codes import EXIT_USAGE
from edtech.core import config
from edtech.core.secret_key import derived_secret
from edtech.services import accounts, identity_provider

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SECRETS_OUT = config.DATA_DIR / "auth" / "secrets.toml"
DEFAULT_SSO_SECRETS = ROOT / ".streamlit" / "secrets.toml"
SSO_SECRETS_ENV = "EDTECH_SSO_SECRETS"


# ------------------------------------------------------------------------------- TOML
def _toml_key(key: str) -> str:
    bare = key and all(c.isalnum() or c in "-_" for c in key) and key.isascii()
    return key if bare else _toml_value(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        escaped = "".join(c if c >= " " or c == "\t" else f"\\u{ord(c):04x}" for c in escaped)
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(doc: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer: strings, numbers, booleans, lists; nested dicts become [sections]."""
    plain = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in doc.items() if isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and (plain or not tables) else []
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in plain.items()]
    text = "\n".join(lines) + ("\n" if lines else "")
    for k, v in tables.items():
        text += ("\n" if text else "") + to_toml(v, f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k))
    return text


# ------------------------------------------------------------------------------- secrets
def read_sso_secrets(path: Path) -> dict[str, Any]:
    """The administrator's secrets file (SSO providers under [auth.<name>]); {} when absent."""
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


def build_secrets(admin: dict[str, Any], redirect_uri: str, own_sections: dict[str, dict[str, str]],
                  warn: Any = print) -> dict[str, Any]:
    """The document Streamlit reads: ours, plus the administrator's keys and SSO sections (theirs win for
    redirect_uri and cookie_secret; our provider names are reserved)."""
    doc: dict[str, Any] = {k: v for k, v in admin.items() if k != "auth"}
    their_auth = dict(admin.get("auth") or {})
    auth: dict[str, Any] = {"redirect_uri": redirect_uri, "cookie_secret": derived_secret("cookie")}
    for key, value in their_auth.items():
        if isinstance(value, dict):
            if key in identity_provider.RESERVED_PROVIDERS:
                warn(f"warning: [auth.{key}] in the SSO secrets is ignored: the app's own sign-in uses that name")
                continue
            if "_" in key:
                warn(f"warning: [auth.{key}]: Streamlit refuses provider names with '_'; rename it "
                     f"(e.g. [auth.{key.replace('_', '-')}])")
        auth[key] = value
    for name, section in own_sections.items():
        auth[name] = section
    doc["auth"] = auth
    return doc


def app_redirect_uri(admin: dict[str, Any], port: int, public_provider_url: str | None) -> str:
    """Where providers send the browser back: the administrator's [auth] redirect_uri when set, else the
    app beside the public provider URL (`https://host/idp` -> `https://host/oauth2callback`), else
    `http://localhost:PORT/oauth2callback` (localhost, while the provider is on 127.0.0.1: cookies ignore
    ports, so the two must differ by host name)."""
    given = (admin.get("auth") or {}).get("redirect_uri")
    if given:
        uri = str(given).replace("{port}", str(port))  # Streamlit fills the same placeholder
    elif public_provider_url:
        parts = urlsplit(public_provider_url)
        path = parts.path.rstrip("/")
        base = path[: -len("/idp")] if path.endswith("/idp") else ""
        uri = f"{parts.scheme}://{parts.netloc}{base}/oauth2callback"
    else:
        uri = f"http://localhost:{port}/oauth2callback"
    return urlparse(uri).geturl()  # as Streamlit sends it: the provider compares it exactly


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (mode 0600), replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    ignore = path.parent / ".gitignore"
    if path.parent.name == "auth" and not ignore.exists():
        ignore.write_text("*\n")  # generated secrets never reach version control
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def sso_names(doc: dict[str, Any]) -> list[str]:
    return [k for k, v in (doc.get("auth") or {}).items()
            if isinstance(v, dict) and k not in identity_provider.RESERVED_PROVIDERS]


# ------------------------------------------------------------------------------- command
def _run(args: argparse.Namespace) -> int:
    if args.public_url and not args.public_url.startswith(("https://", "http://")):
        print("error: --public-url must start with https:// (or http:// for a local test)", file=sys.stderr)
        return EXIT_USAGE
    from edtech.services import workspace  # heavy: only when serving

    engine = workspace.open_engine(args.db)
    admin = read_sso_secrets(Path(args.sso_secrets or os.environ.get(SSO_SECRETS_ENV) or DEFAULT_SSO_SECRETS))
    public = args.public_url.rstrip("/") if args.public_url else None
    redirect_uri = app_redirect_uri(admin, args.port, public)
    demo = accounts.demo_mode()
    if demo:
        accounts.ensure_demo_accounts(engine)
    try:
        provider = identity_provider.start_for_app(engine, redirect_uri, port=args.idp_port, public_url=public)
    except OSError as exc:
        print(f"error: the sign-in provider cannot listen on 127.0.0.1:{args.idp_port} ({exc.strerror}): "
              "pass another --idp-port (0 = any free port)", file=sys.stderr)
        return EXIT_USAGE
    try:
        doc = build_secrets(admin, redirect_uri, identity_provider.provider_sections(provider, demo=demo),
                            warn=lambda m: print(m, file=sys.stderr))
        out = Path(args.secrets_out)
        write_private(out, to_toml(doc))
        sso = sso_names(doc)
        print(f"sign-in provider: {provider.base_url} (local accounts{', demo accounts' if demo else ''}); "
              f"single sign-on: {', '.join(sso) or 'none configured'}; secrets: {out}", flush=True)
        print(f"open {redirect_uri.removesuffix('/oauth2callback')}/ (this exact address: sign-in returns there)",
              flush=True)
        env = dict(os.environ)
        if args.db:
            env["EDTECH_DATABASE_URL"] = args.db
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(args.port),
               "--server.address", args.address, "--server.headless", "true",
               "--server.enableXsrfProtection", "true", "--browser.gatherUsageStats", "false",
               "--secrets.files", str(out.resolve())]
        child = subprocess.Popen(cmd, cwd=ROOT, env=env)

        def forward(signum: int, _frame: object) -> None:
            if child.poll() is None:
                child.send_signal(signum)

        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while True:
                try:
                    return child.wait()
                except KeyboardInterrupt:  # the signal already went to the child: wait for it
                    continue
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    finally:
        provider.stop()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the app with sign-in (local accounts, demo, single sign-on)",
                       description="Start the app and its sign-in provider. SSO providers come from "
                                   ".streamlit/secrets.toml ([auth.<name>] sections, names without '_').")
    p.add_argument("--port", type=int, default=8501, help="the app's port (default 8501)")
    p.add_argument("--address", default="127.0.0.1", help="the app's address (default 127.0.0.1: this machine only)")
    p.add_argument("--idp-port", type=int, default=8502, help="the sign-in provider's port on 127.0.0.1 (0 = any)")
    p.add_argument("--public-url", default=None, metavar="URL",
                   help="the provider's public https URL behind a reverse proxy that forwards /idp/ to it "
                        "(e.g. https://compass.example.org/idp; the app is then https://compass.example.org/)")
    p.add_argument("--secrets-out", default=str(DEFAULT_SECRETS_OUT), metavar="PATH",
                   help=f"where to write the generated sign-in secrets (default {DEFAULT_SECRETS_OUT})")
    p.add_argument("--sso-secrets", default=None, metavar="PATH",
                   help=f"the administrator's SSO secrets (default ${SSO_SECRETS_ENV}, else .streamlit/secrets.toml)")
    p.set_defaults(func=_run)
