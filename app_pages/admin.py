"""Admin (director only): people and their roles, the audit trail, what each role can do."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from ui import admin, cache, components, state

st.title("Admin")
state.current_principal().require_page("admin")  # the menu hides it; the server refuses it too
st.caption("Who may sign in and with which role; who viewed, exported, imported or changed what.")

people_tab, audit_tab, roles_tab = st.tabs(["People", "Audit trail", "What each role can do"])
ROLE_OPTIONS = [r.value for r in admin.Role]
SCHOOL_NAMES = cache.school_names()


def _schools_label(school_id: str) -> str:
    return f"{SCHOOL_NAMES.get(school_id, school_id)} ({school_id})"


def _school_names(ids: object) -> str:
    """A coordinator's schools by name ("Oak Hill Elementary, Harbor View Middle"); none is an em dash."""
    picked = [s.strip() for s in str(ids or "").split(",") if s.strip()]
    return ", ".join(SCHOOL_NAMES.get(s, s) for s in picked) or components.EM_DASH


def _scope_words(scope: object) -> str:
    """An audit event's scope in words: the whole district or the schools' names."""
    if scope is None or scope == "" or (not isinstance(scope, str) and pd.isna(scope)):
        return components.EM_DASH
    return "Whole district" if scope == "district" else _school_names(scope)


def _text_or_dash(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)) or not str(value).strip():
        return components.EM_DASH
    return str(value)


def _run(action, success: str) -> None:
    try:
        action()
    except (admin.AccountError, PermissionError) as exc:
        st.session_state["admin_notice"] = ("error", str(exc))
    else:
        st.session_state["admin_notice"] = ("success", success)


with people_tab:
    notice = st.session_state.pop("admin_notice", None)
    if notice:
        getattr(st, notice[0])(components.escape(notice[1]))
    people = admin.users()
    shown = people.assign(role=people["role"].map(lambda r: admin.ROLE_LABELS[admin.Role(r)]),
                          schools=people["schools"].map(_school_names),
                          sign_in=people["sign_in"].map(lambda v: components.humanize(v) if _text_or_dash(v) != "—"
                                                        else components.EM_DASH),
                          locked_until=people["locked_until"].map(
                              lambda t: t.strftime("%Y-%m-%d %H:%M UTC") if t is not None and not isinstance(t, float)
                              else components.EM_DASH),
                          demo=people["demo"].map(components.yes_no))
    components.table(shown, hide_index=True, key="admin_people", column_config={
        "email": "Email", "name": "Name", "role": "Role", "schools": "Schools (coordinators)",
        "sign_in": "Signs in with", "demo": "Demo account", "locked_until": "Locked until"})

    with st.form("admin_add", clear_on_submit=True, border=True):
        st.markdown("**Add a person**")
        c = st.columns([2, 2, 1])
        email = c[0].text_input("Email", key="admin_add_email", placeholder="name@district.org")
        name = c[1].text_input("Name", key="admin_add_name")
        role = c[2].selectbox("Role", ROLE_OPTIONS, key="admin_add_role",
                              format_func=lambda r: admin.ROLE_LABELS[admin.Role(r)])
        schools = st.multiselect("Schools (for a coordinator)", sorted(SCHOOL_NAMES), key="admin_add_schools",
                                 format_func=_schools_label)
        method = st.radio("Signs in with", ["Single sign-on (district account)", "A password set here"],
                          key="admin_add_method", horizontal=True)
        password = st.text_input("Password (10 characters or more)", type="password", key="admin_add_password")
        if st.form_submit_button("Add", type="primary", icon=":material/person_add:"):
            _run(lambda: admin.add_user(email, role, schools, name,
                                        password if method.startswith("A password") else None),
                 f"Added {email.strip().lower()}.")
            st.rerun()

    if len(people):
        with st.container(border=True):
            st.markdown("**Change a person**")
            who = st.selectbox("Person", people["email"].tolist(), key="admin_who")
            current = people.set_index("email").loc[who]
            c = st.columns([1, 2])
            new_role = c[0].selectbox("Role", ROLE_OPTIONS, index=ROLE_OPTIONS.index(current["role"]),
                                      key=f"admin_role_{who}", format_func=lambda r: admin.ROLE_LABELS[admin.Role(r)])
            mine = [s.strip() for s in str(current["schools"]).split(",") if s.strip() in SCHOOL_NAMES]
            new_schools = c[1].multiselect("Schools (for a coordinator)", sorted(SCHOOL_NAMES), default=mine,
                                           key=f"admin_schools_{who}", format_func=_schools_label)
            b = st.columns(4)
            if b[0].button("Save role and schools", key="admin_save_role", type="primary"):
                _run(lambda: admin.set_role(who, new_role, new_schools), f"Updated {who}.")
                st.rerun()
            if b[1].button("Unlock", key="admin_unlock", disabled=current["locked_until"] is None):
                _run(lambda: admin.unlock(who), f"Unlocked {who}.")
                st.rerun()
            if b[2].button("Single sign-on only", key="admin_sso_only", help="Remove the password."):
                _run(lambda: admin.set_password(who, None), f"{who} now signs in with single sign-on only.")
                st.rerun()
            if b[3].button("Remove", key="admin_remove", icon=":material/person_remove:"):
                _run(lambda: admin.remove(who), f"Removed {who}.")
                st.rerun()

with audit_tab:
    c = st.columns([1, 1, 2])
    since = c[0].date_input("Since", value=dt.date.today() - dt.timedelta(days=30), key="admin_audit_since")
    action = c[1].selectbox("Action", ["", *admin.audit_actions()], key="admin_audit_action",
                            format_func=lambda a: a or "All actions")
    who = c[2].text_input("Person (email)", key="admin_audit_who")
    trail = admin.audit_trail(since, action, who)
    if trail.empty:
        st.info("No audit events match.", icon=":material/info:")
    else:
        trail = trail.assign(at=trail["at"].map(lambda t: t.strftime("%Y-%m-%d %H:%M:%S")))
        shown_trail = trail.drop(columns=["session"]).assign(  # codes in words; the CSV keeps the stored values
            role=trail["role"].map(lambda r: components.label_for(r, "role") if _text_or_dash(r) != "—"
                                   else components.EM_DASH),
            page=trail["page"].map(lambda p: components.label_for(p, "page") if _text_or_dash(p) != "—"
                                   else components.EM_DASH),
            scope=trail["scope"].map(_scope_words),
            actor=trail["actor"].map(_text_or_dash), action=trail["action"].map(_text_or_dash),
            detail=trail["detail"].map(_text_or_dash))
        components.table(shown_trail, hide_index=True,
                         key="admin_audit", column_config={
                             "at": "When (UTC)", "actor": "Who", "role": "Role", "action": "Action", "page": "Page",
                             "scope": "Scope", "detail": "Detail"})
        st.download_button("Download the audit trail (CSV)", admin.audit_csv_builder(trail),
                           file_name=f"audit-{dt.date.today():%Y-%m-%d}.csv", mime="text/csv",
                           key="admin_audit_csv", icon=":material/download:")
    st.caption("The trail is append-only through the app: views are recorded once per session, page and scope "
               "each hour; exports, imports, settings, scenario changes, model publications, board reports and "
               "sign-ins every time.")

with roles_tab:
    st.markdown(admin.permission_table())
    st.caption("One permission matrix in the code decides the menu, every server-side check, this table and the "
               "README's; demo mode is " + ("on: demo accounts sign in without passwords." if admin.demo_mode()
                                            else "off: demo accounts are refused."))
