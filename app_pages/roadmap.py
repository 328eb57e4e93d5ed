"""Roadmap: the district's technology initiatives on a timeline, each with KPIs measured on the product's own
figures (methods v2 section 7): current value, target, status and a monthly trend. The director edits; others read."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from ui import cache, components, state
from ui import roadmap_cache as rc

st.title("Roadmap")
st.caption("Multi-year initiatives with KPIs computed by the same rules as every other page (utilization, dosage, "
           "vetting, devices, idle licenses, interventions, effects, PD) — no number typed by hand.")

scope = components.scope_or_stop("the Roadmap page", "roadmap KPIs")
view = rc.roadmap(scope)
is_director = state.can(state.Action.EDIT_ROADMAP)
flash = st.session_state.pop("roadmap_flash", None)
if flash:
    st.success(flash, icon=":material/check:")


def badge(status: str) -> str:
    return f"{rc.STATUS_ICONS[status]} {rc.STATUS_LABELS[status]}"


def withheld(small: bool) -> str | None:
    """The suppression label for a KPI over too few students, when this reader gets the board's view."""
    return components.suppression_label(view.min_n) if view.suppresses and small else None


def when(value) -> str:
    return components.EM_DASH if value is None or pd.isna(value) else f"{pd.Timestamp(value):%b %d, %Y}"


# ---------------------------------------------------------------- overview of the roadmap
if view.is_empty:
    st.info("No initiatives on the roadmap yet." + (" Add one below or import initiatives and kpis files."
                                                     if is_director else " The director adds them."),
            icon=":material/flag:")
else:
    counts = view.kpis["status"].value_counts()
    c = st.columns(5)
    c[0].metric("Initiatives", f"{len(view.initiatives)}")
    for col, status in zip(c[1:], ("met", "on_track", "at_risk", "no_data"), strict=True):
        col.metric(rc.STATUS_LABELS[status], f"{int(counts.get(status, 0))}", help=rc.STATUS_RULE)
    st.caption(f"Data through {view.as_of:%B %d, %Y}: a KPI's current value is its value for "
               f"{view.month:%B %Y}; the trend is one value per month." +
               (f" {view.hidden_kpis} KPI(s) about other schools are not shown." if view.hidden_kpis else ""))
    components.chart(cache.figure(rc.timeline_figure, view.initiatives, view.as_of, view.initiatives),
                     key="roadmap_timeline")

    for r in view.initiatives.itertuples():
        label = rc.INITIATIVE_STATUS_LABELS.get(r.status, "Planned") if isinstance(r.status, str) else "Planned"
        with st.container(border=True):
            st.markdown(f"**{components.escape(r.name)}** · {label} · {r.start_date:%b %Y} – {r.end_date:%b %Y}")
            details = [f"Owner: {components.escape(r.owner)}" if isinstance(r.owner, str) else None,
                       "Budget scenario: " + (components.escape(r.scenario) if isinstance(r.scenario, str)
                                              else components.EM_DASH)]
            st.caption(" · ".join(d for d in details if d))
            if isinstance(r.goal, str):
                st.markdown(components.escape(r.goal))
            mine = view.kpis[view.kpis["initiative_id"] == r.initiative_id]
            if mine.empty:
                st.caption("No KPI yet.")
            for k in mine.itertuples():
                hide = withheld(k.suppressed)
                a, b, c2, d = st.columns([3, 2, 2, 3])
                a.markdown(f"**{components.escape(k.metric_label)}**  \n{components.escape(k.scope_label)}")
                b.metric("Current", rc.format_value(k.current, k.unit, hide),
                         delta=None if k.change is None or pd.isna(k.change) else rc.format_change(k.change, k.unit),
                         delta_color="off")
                c2.markdown(f"Target **{rc.format_value(k.target, k.unit)}** by {when(k.target_date)}  \n"
                            f"Baseline {rc.format_value(k.baseline, k.unit, hide)}  \n{badge(k.status)}")
                series = view.series.get((k.initiative_id, k.kpi_id))
                if series is not None and len(series):
                    components.chart(cache.figure(rc.sparkline_figure, series, target=k.target, unit=k.unit,
                                                  status=k.status),
                                     where=d, key=f"roadmap_spark_{k.initiative_id}_{k.kpi_id}",
                                     config={"displayModeBar": False})
                elif hide:
                    d.caption(f"Values withheld: fewer than {view.min_n} students.")
                else:
                    d.caption(k.note or "No monthly value yet.")

    st.subheader("All KPIs")
    kpi_table = pd.DataFrame({
        "Initiative": view.kpis["initiative"], "KPI": view.kpis["metric_label"], "Scope": view.kpis["scope_label"],
        "Baseline": [rc.format_value(v, u, withheld(h)) for v, u, h in
                     zip(view.kpis["baseline"], view.kpis["unit"], view.kpis["suppressed"], strict=True)],
        "Current": [rc.format_value(v, u, withheld(h)) for v, u, h in
                    zip(view.kpis["current"], view.kpis["unit"], view.kpis["suppressed"], strict=True)],
        "Target": [rc.format_value(v, u) for v, u in zip(view.kpis["target"], view.kpis["unit"], strict=True)],
        "Target date": view.kpis["target_date"].map(when),
        "Status": view.kpis["status"].map(rc.STATUS_LABELS),
        "Change since last month": [rc.format_change(v, u, withheld(h)) for v, u, h in
                                    zip(view.kpis["change"], view.kpis["unit"], view.kpis["suppressed"], strict=True)],
    })
    # signed figures ("+0.10 SD", "+4 pts") as text the grid's formula guard leaves alone
    kpi_table = components.signs_as_text(kpi_table, names=("Initiative", "KPI", "Scope"))
    components.table(kpi_table, hide_index=True, width="stretch", key="roadmap_kpis")
    st.caption(rc.STATUS_RULE)
    if state.can(state.Action.EXPORT_AGGREGATES):
        d1, d2, d3 = st.columns(3)
        d1.download_button("Initiatives (CSV)", rc.export_csv_later("initiatives"), file_name="initiatives.csv",
                           mime="text/csv", key="roadmap_initiatives_download", icon=":material/download:")
        d2.download_button("KPIs (CSV)", rc.export_csv_later("kpis"), file_name="kpis.csv", mime="text/csv",
                           key="roadmap_kpis_download", icon=":material/download:")
        d3.download_button("KPI status (CSV)", rc.status_csv(view), file_name="kpi_status.csv", mime="text/csv",
                           key="roadmap_status_download", icon=":material/download:")

# ---------------------------------------------------------------- the director edits
if not is_director:
    st.stop()

st.divider()
st.subheader("Edit the roadmap")
opts = rc.options()
names = dict(zip(view.initiatives["initiative_id"], view.initiatives["name"].astype(str), strict=True))


def done(message: str) -> None:
    # messages carry initiative names and file names: escaped once here, shown as markdown by st.success
    st.session_state["roadmap_flash"] = components.escape(message)
    st.rerun()


add_tab, kpi_tab, change_tab, import_tab = st.tabs(["Add an initiative", "Add a KPI", "Change or delete",
                                                    "Import CSV"])
with add_tab:
    name = st.text_input("Name", key="roadmap_new_name", max_chars=200)
    goal = st.text_area("Goal", key="roadmap_new_goal", max_chars=2000)
    owner = st.text_input("Owner", key="roadmap_new_owner", max_chars=200)
    c1, c2, c3 = st.columns(3)
    start = c1.date_input("Start", value=dt.date(view.as_of.year, 7, 1), key="roadmap_new_start")
    end = c2.date_input("End", value=dt.date(view.as_of.year + 3, 6, 30), key="roadmap_new_end")
    status = c3.selectbox("Status", rc.INITIATIVE_STATUSES, key="roadmap_new_status",
                          format_func=lambda s: rc.INITIATIVE_STATUS_LABELS[s])
    scenario = st.selectbox("Linked budget scenario", [""] + view.scenarios, key="roadmap_new_scenario",
                            format_func=lambda s: s or "No scenario")
    if st.button("Add initiative", key="roadmap_new_save", icon=":material/add:", type="primary"):
        created, refused = rc.save_initiative({"name": name, "goal": goal, "owner": owner, "start_date": start,
                                               "end_date": end, "status": status, "scenario": scenario or None})
        if refused:
            st.error(refused)
        else:
            done(f"Initiative {created} added: add its KPIs next.")

with kpi_tab:
    if not names:
        st.caption("Add an initiative first.")
    else:
        target_initiative = st.selectbox("Initiative", list(names), key="roadmap_kpi_initiative",
                                         format_func=lambda i: names[i])
        metric = st.selectbox("Metric", list(opts["metrics"]), key="roadmap_kpi_metric",
                              format_func=lambda m: opts["metrics"][m])
        st.caption(components.escape(opts["definitions"][metric]))
        tool = None
        if opts["needs_tool"][metric]:
            tool = st.selectbox("Tool", list(opts["tools"]), key="roadmap_kpi_tool",
                                format_func=lambda t: opts["tools"][t])
        scope_choice = st.selectbox("Scope", [rc.DISTRICT, *opts["schools"]], key="roadmap_kpi_scope",
                                    format_func=lambda s: "District" if s == rc.DISTRICT else opts["schools"][s])
        share = opts["units"][metric] == "share"
        c1, c2, c3 = st.columns(3)
        target = c1.number_input("Target" + (" (%)" if share else ""), value=80.0 if share else 1.0,
                                 key="roadmap_kpi_target")
        target_date = c2.date_input("Target date", value=dt.date(view.as_of.year + 1, 6, 30), key="roadmap_kpi_date")
        baseline = c3.number_input("Baseline" + (" (%)" if share else ""), value=None, key="roadmap_kpi_baseline",
                                   help="Leave empty: the metric's value in the data now.")
        if st.button("Add KPI", key="roadmap_kpi_save", icon=":material/add_chart:", type="primary"):
            scale = 100.0 if share else 1.0
            created, refused = rc.save_kpi(target_initiative, {
                "metric": f"{metric}:{tool}" if tool else metric, "scope": scope_choice,
                "target": target / scale, "target_date": target_date,
                "baseline": None if baseline is None else baseline / scale})
            if refused:
                st.error(refused)
            else:
                done(f"KPI {created} added to {names[target_initiative]}.")

with change_tab:
    if not names:
        st.caption("Nothing to change yet.")
    else:
        pick = st.selectbox("Initiative", list(names), key="roadmap_edit_initiative", format_func=lambda i: names[i])
        row = view.initiatives.set_index("initiative_id").loc[pick]
        new_status = st.selectbox("Status", rc.INITIATIVE_STATUSES, key=f"roadmap_edit_status_{pick}",
                                  index=rc.INITIATIVE_STATUSES.index(row["status"])
                                  if row["status"] in rc.INITIATIVE_STATUSES else 0,
                                  format_func=lambda s: rc.INITIATIVE_STATUS_LABELS[s])
        new_end = st.date_input("End", value=pd.Timestamp(row["end_date"]).date(), key=f"roadmap_edit_end_{pick}")
        e1, e2 = st.columns(2)
        if e1.button("Save the initiative", key="roadmap_edit_save", icon=":material/save:"):
            values = {c: row[c] for c in ("name", "goal", "owner", "start_date", "scenario")}
            _, refused = rc.save_initiative({**values, "status": new_status, "end_date": new_end}, pick)
            if refused:
                st.error(refused)
            else:
                done("Initiative saved.")
        if e2.button("Delete the initiative and its KPIs", key="roadmap_edit_delete", icon=":material/delete:"):
            refused = rc.delete_initiative(pick)
            if refused:
                st.error(refused)
            else:
                done("Initiative deleted.")
        its = view.kpis[view.kpis["initiative_id"] == pick]
        if len(its):
            kpi_pick = st.selectbox("KPI", list(its["kpi_id"]), key="roadmap_edit_kpi",
                                    format_func=lambda k: its.set_index("kpi_id").loc[k, "metric_label"])
            if st.button("Delete the KPI", key="roadmap_edit_kpi_delete", icon=":material/delete:"):
                refused = rc.delete_kpi(pick, kpi_pick)
                if refused:
                    st.error(refused)
                else:
                    done("KPI deleted.")

with import_tab:
    st.caption("Files in the data contract's shape (initiatives: initiative_id, name, start_date, end_date, …; "
               "kpis: initiative_id, kpi_id, metric, scope, baseline, target, target_date), checked and stored by "
               "the normal importer: a file with any invalid row writes nothing.")
    kind = st.selectbox("Table", ["initiatives", "kpis"], key="roadmap_import_kind")
    upload = st.file_uploader("CSV file", type=["csv"], key="roadmap_import_file")
    if upload is not None and st.button("Import", key="roadmap_import_go", icon=":material/upload_file:"):
        report, refused = rc.import_csv(kind, upload.name, upload.getvalue())
        if refused:
            st.error(refused)
        elif not report.ok:
            st.error("\n\n".join(components.escape(line) for line in report.error_lines()[:10]))
        else:
            done(report.summary())
