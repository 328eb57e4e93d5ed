"""Sign-in: Streamlit's OpenID Connect (`st.login`) for district SSO and for local accounts (through the
app's own small provider, started by `python -m edtech serve`), the demo buttons, the session limits.

A visitor who is not signed in sees only the sign-in screen: no pages, no data, no query parameter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import streamlit as st

from edtech.core.access import ROLE_LABELS, Principal, Role
from edtech.services import accounts, audit, identity_provider, sessions
from ui import cache, state
from ui.components import escape

LOCAL = identity_provider.LOCAL_PROVIDER
DEMO_PROVIDERS = identity_provider.DEMO_PROVIDERS  # Streamlit refuses "_" in provider names: demo-director…
SSO_LABELS = {"google": "Google Workspace", "microsoft": "Microsoft Entra ID", "entra": "Microsoft Entra ID",
              "clever": "Clever", "classlink": "ClassLink"}
END_MESSAGES = {
    "expired": "Your session reached its 8-hour limit. Please sign in again.",
    "idle": "You were signed out after 30 minutes without activity. Please sign in again.",
    "signed out": "You signed out.",
}
DEMO_BANNER = ("**Demo mode**: the sample district with one-click demo accounts and no passwords. "
               "Do not load real student data in demo mode.")


def _claims() -> dict[str, Any] | None:
    try:
        if not st.user.is_logged_in:
            return None
        return st.user.to_dict()
    except (AttributeError, KeyError):  # no user information at all (e.g. an old session)
        return None


def _providers() -> list[str]:
    """The `[auth.<name>]` sections configured in the secrets (none when sign-in is not configured)."""
    try:
        section = st.secrets.get("auth", {})
    except FileNotFoundError:
        return []
    return [name for name, value in section.items() if hasattr(value, "keys")]


def provider_label(name: str) -> str:
    return SSO_LABELS.get(name.lower(), identity_provider.provider_label(name))


def _login_button(label: str, provider: str, *, key: str, primary: bool = False, icon: str | None = None) -> None:
    if st.button(label, key=key, type="primary" if primary else "secondary", icon=icon, width="stretch"):
        st.login(provider)


def sign_in_screen(message: str | None = None) -> None:
    """The only thing a visitor who is not signed in sees."""
    providers = _providers()
    left, middle, right = st.columns([1, 2, 1])
    with middle:
        st.title("EdTech Compass")
        st.markdown("Sign in to see your district's tools, adoption, students and budget.")
        if message:
            st.info(message, icon=":material/info:")
        demo = accounts.demo_mode()
        if demo:
            st.warning(DEMO_BANNER, icon=":material/science:")
            for role in (Role.DIRECTOR, Role.COORDINATOR, Role.BOARD, Role.VIEWER):
                name = DEMO_PROVIDERS[role]
                if name in providers:
                    _login_button(f"Sign in as the demo {ROLE_LABELS[role].lower().replace('school ', '')}", name,
                                  key=f"signin_{name}", primary=role == Role.DIRECTOR, icon=":material/person:")
        sso = [p for p in providers if p not in identity_provider.RESERVED_PROVIDERS]
        for name in sso:
            _login_button(f"Sign in with {provider_label(name)}", name, key=f"signin_{name}",
                          primary=not demo, icon=":material/badge:")
        if LOCAL in providers:
            _login_button("Sign in with email and password", LOCAL, key="signin_local", icon=":material/key:")
        if not providers:
            st.error("Sign-in is not configured on this server. Start the app with `python -m edtech serve` "
                     "(or `make run`), which sets up local accounts; see the README for single sign-on.",
                     icon=":material/lock:")
        st.caption("No account? Ask your director: accounts are added on the Admin page or with "
                   "`python -m edtech user add`.")


def _refused_screen(email: str) -> None:
    left, middle, right = st.columns([1, 2, 1])
    with middle:
        st.title("EdTech Compass")
        st.error(f"There is no EdTech Compass account for {escape(email)}. Ask your director to add you "
                 "(Admin page, or `python -m edtech user add`).", icon=":material/block:")
        if st.button("Sign out", key="refused_sign_out", icon=":material/logout:"):
            st.logout()


def require_principal() -> Principal:
    """The signed-in principal, or the sign-in / refused screen and a stop (no page runs)."""
    claims = _claims()
    if claims is None:
        message = st.session_state.pop("auth_end_message", None)
        _only(lambda: sign_in_screen(message))
    engine = cache.get_engine()
    email = str(claims.get("email") or "")
    principal = accounts.principal_for(engine, email)
    key = sessions.session_key(claims)
    if principal is None:
        if st.session_state.get("auth_refused_logged") != key:
            audit.record(engine, None, "sign-in refused", detail=f"{email or 'no email'} via "
                         f"{claims.get('provider') or 'single sign-on'}: no account")
            st.session_state["auth_refused_logged"] = key
        _only(lambda: _refused_screen(email))
    status = sessions.check_session(engine, claims, principal.email)
    if status in sessions.ENDED:
        audit.record(engine, principal, "session ended", detail=status)
        st.session_state["auth_end_message"] = END_MESSAGES[status]
        st.logout()
        st.stop()
    if status == sessions.NEW:
        audit.record(engine, principal, "signed in", detail=str(claims.get("provider") or ""), session=key)
    st.session_state["auth_session_key"] = key
    state.set_principal(principal)
    return principal


def _only(render) -> None:
    """Render one screen as the app's only page and stop (any URL lands here)."""
    st.navigation([st.Page(render, title="Sign in", url_path="sign-in", default=True)], position="hidden").run()
    st.stop()


def sidebar_identity(principal: Principal) -> None:
    """Who is signed in, the demo banner, sign-out, and a coordinator's narrowing of their schools."""
    if principal.demo:
        st.caption(":material/science: Demo mode: sample data, demo accounts.")
    st.markdown(f"**{escape(principal.name or principal.email)}**  \n{ROLE_LABELS[principal.role]}")
    if principal.role == Role.COORDINATOR:
        names = cache.school_names()
        options = sorted(principal.schools)
        if options:
            st.multiselect("My schools", options, key=state.SCHOOLS_KEY, placeholder="All my schools",
                           format_func=lambda s: names.get(s, s),
                           help="Narrow the pages to some of the schools assigned to your account.")
        else:
            st.warning("No schools are assigned to your account yet. Ask your director.", icon=":material/school:")
    if st.button("Sign out", key="sign_out", icon=":material/logout:"):
        claims = _claims()
        engine = cache.get_engine()
        if claims is not None:
            sessions.end_session(engine, claims)
        audit.record(engine, principal, "signed out")
        st.logout()


def record_view(principal: Principal, page: str) -> None:
    """One audit row per session x page x scope x hour (remembered in the session to skip the query)."""
    scope = state.current_scope()
    marker = (page, tuple(sorted(scope)) if scope is not None else None)
    seen = st.session_state.setdefault("audit_views", {})
    hour = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H")
    if seen.get(marker) == hour:
        return
    audit.record_view(cache.get_engine(), principal, page, scope, state.session_id())
    seen[marker] = hour
