"""Satisfaction per tool and respondent role, its trend, and a one-line summary beside use and effect.

Pure: frames in, frames out (no store, no services). Definitions (shown with the figures):

- **Window**: ratings of the 12 months (`WINDOW_DAYS`) ending at the data's date (the district's as-of
  date, or the latest response when the survey is newer).
- Per tool x role: `n` ratings, `mean_rating` (1-5) and `share_4_5` (share of ratings of 4 or 5).
- **Trend**: mean of the last six months (`TREND_DAYS`) minus the mean of the six months before, with a
  95% Welch interval; *rising* / *falling* only when the interval excludes 0, *no clear change*
  otherwise, *too few responses* when either half has fewer than `min_n` ratings.
- **Tool satisfaction** (the optional ROI score part): the mean of the role means over the roles with at
  least `min_n` ratings (each role counts once, so 300 students do not drown 30 teachers); missing
  (the score then uses a neutral rank) when no role has `min_n`.
- **Use trend** comes from the ROI scoreboard's own figures (never recomputed): users of the last 30
  days as a share of the peak 4-week users, compared with the median share of the tools on the same
  board, so the school calendar (every tool falls in June) is not read as a tool's decline.
- `min_n` is the suppression threshold (methods.md section 8): roles seen by board members and viewers
  with fewer ratings show "<10" and no mean.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from edtech.core import format as fmt
from edtech.core.privacy import suppress_small

WINDOW_DAYS = 365
TREND_DAYS = 182
ROLE_ORDER = ("teacher", "student", "parent", "administrator", "it", "unspecified")
ROLE_LABELS = {"teacher": "Teachers", "student": "Students", "parent": "Parents",
               "administrator": "Administrators", "it": "IT staff", "unspecified": "Role not given"}
ROLE_ONE = {"teacher": "Teacher", "student": "Student", "parent": "Parent", "administrator": "Administrator",
            "it": "IT staff", "unspecified": "Role not given"}
ROLE_WHO = {"teacher": "teachers", "student": "students", "parent": "parents",
                 "administrator": "administrators", "it": "IT staff", "unspecified": "respondents"}
TREND_WORDS = {"rising": "rising", "falling": "falling", "steady": "no clear change", "few": "too few responses"}
USE_FALLING, USE_HOLDING = 0.85, 1.15   # a tool's recent/peak share vs the board's median share
BY_ROLE_COLUMNS = ["tool_id", "role", "n", "mean_rating", "share_4_5", "recent_n", "recent_mean", "earlier_n",
                   "earlier_mean", "change", "change_ci_low", "change_ci_high", "trend", "enough"]
PER_TOOL_COLUMNS = ["tool_id", "satisfaction_mean", "satisfaction_n", "responses", "roles_counted", "lead_role"]


def window_end(feedback: pd.DataFrame, as_of: pd.Timestamp) -> pd.Timestamp:
    """The end of the 12-month window: the data's date, or the latest response if the survey is newer."""
    last = pd.to_datetime(feedback["date"]).max() if len(feedback) else pd.NaT
    return pd.Timestamp(as_of) if pd.isna(last) else max(pd.Timestamp(as_of), pd.Timestamp(last))


def in_window(feedback: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Rated responses of the 12 months up to `window_end`, with `role` filled ('unspecified')."""
    end = window_end(feedback, as_of)
    f = feedback[feedback["rating"].notna()].copy()
    f["date"] = pd.to_datetime(f["date"])
    f = f[(f["date"] > end - pd.Timedelta(days=WINDOW_DAYS)) & (f["date"] <= end)]
    f["role"] = f["role"].astype("object").where(f["role"].notna(), "unspecified")
    f["rating"] = f["rating"].astype("float64")
    f["recent"] = f["date"] > end - pd.Timedelta(days=TREND_DAYS)
    return f


def welch_change(recent: np.ndarray, earlier: np.ndarray) -> tuple[float, float, float]:
    """Difference of means (recent - earlier) with its 95% Welch interval (nan when a half has < 2 ratings)."""
    if len(recent) < 2 or len(earlier) < 2:
        return math.nan, math.nan, math.nan
    diff = float(recent.mean() - earlier.mean())
    v1, v2 = recent.var(ddof=1) / len(recent), earlier.var(ddof=1) / len(earlier)
    se = math.sqrt(v1 + v2)
    if se == 0:
        return diff, diff, diff
    df = (v1 + v2) ** 2 / ((v1 ** 2) / (len(recent) - 1) + (v2 ** 2) / (len(earlier) - 1))
    half = float(stats.t.ppf(0.975, df)) * se
    return diff, diff - half, diff + half


def trend_code(recent_n: int, earlier_n: int, low: float, high: float, min_n: int) -> str:
    if recent_n < min_n or earlier_n < min_n or math.isnan(low):
        return "few"
    if low > 0:
        return "rising"
    if high < 0:
        return "falling"
    return "steady"


def by_role(feedback: pd.DataFrame, as_of: pd.Timestamp, min_n: int) -> pd.DataFrame:
    """One row per tool x respondent role (BY_ROLE_COLUMNS), roles in ROLE_ORDER."""
    f = in_window(feedback, as_of)
    if f.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in BY_ROLE_COLUMNS})
    rows = []
    for (tool_id, role), grp in f.groupby(["tool_id", "role"], sort=False):
        ratings = grp["rating"].to_numpy()
        recent = grp.loc[grp["recent"], "rating"].to_numpy()
        earlier = grp.loc[~grp["recent"], "rating"].to_numpy()
        change, low, high = welch_change(recent, earlier)
        rows.append({
            "tool_id": tool_id, "role": role, "n": len(ratings), "mean_rating": float(ratings.mean()),
            "share_4_5": float((ratings >= 4).mean()),
            "recent_n": len(recent), "recent_mean": float(recent.mean()) if len(recent) else math.nan,
            "earlier_n": len(earlier), "earlier_mean": float(earlier.mean()) if len(earlier) else math.nan,
            "change": change, "change_ci_low": low, "change_ci_high": high,
            "trend": trend_code(len(recent), len(earlier), low, high, min_n), "enough": len(ratings) >= min_n,
        })
    out = pd.DataFrame(rows, columns=BY_ROLE_COLUMNS)
    order = {r: i for i, r in enumerate(ROLE_ORDER)}
    out["_o"] = out["role"].map(order).fillna(len(order))
    return out.sort_values(["tool_id", "_o", "role"]).drop(columns="_o").reset_index(drop=True)


def per_tool(roles: pd.DataFrame) -> pd.DataFrame:
    """One row per tool: the mean of the role means over roles with enough ratings (missing when none),
    the ratings those roles hold, all ratings, and the lead role (teachers when they have enough, else
    the role with the most ratings)."""
    rows = []
    for tool_id, grp in roles.groupby("tool_id", sort=False):
        ok = grp[grp["enough"].astype(bool)]
        if len(ok):
            teachers = ok[ok["role"] == "teacher"]
            lead = "teacher" if len(teachers) else str(ok.sort_values("n", ascending=False)["role"].iloc[0])
        else:
            lead = None
        rows.append({"tool_id": tool_id,
                     "satisfaction_mean": float(ok["mean_rating"].mean()) if len(ok) else math.nan,
                     "satisfaction_n": int(ok["n"].sum()), "responses": int(grp["n"].sum()),
                     "roles_counted": len(ok), "lead_role": lead})
    return pd.DataFrame(rows, columns=PER_TOOL_COLUMNS)


def attach(tools: pd.DataFrame, feedback: pd.DataFrame, as_of: pd.Timestamp, min_n: int) -> pd.DataFrame:
    """`tools` (one row per tool) with `satisfaction_mean` and `satisfaction_n` (the ROI score's optional part)."""
    summary = per_tool(by_role(feedback, as_of, min_n)).set_index("tool_id")
    out = tools.copy()
    out["satisfaction_mean"] = out["tool_id"].map(summary["satisfaction_mean"]).astype("float64")
    out["satisfaction_n"] = out["tool_id"].map(summary["satisfaction_n"]).fillna(0).astype("int64")
    return out


# ---------------------------------------------------------------- use beside satisfaction

def usage_trend(board: pd.DataFrame, min_n: int) -> pd.DataFrame:
    """Per tool of the scoreboard: users of the last 30 days / peak 4-week users (`recent_share`, the
    board's own figures), the board's median share, and a code: falling / steady / holding / few."""
    peak = pd.to_numeric(board["peak_active_30d"], errors="coerce")
    recent = pd.to_numeric(board["active_30d"], errors="coerce")
    share = (recent / peak.where(peak >= min_n)).astype("float64")
    median = float(share.median()) if share.notna().any() else math.nan
    relative = share / median if median and not math.isnan(median) else share * math.nan
    code = np.where(share.isna(), "few", np.where(relative < USE_FALLING, "falling",
                                                   np.where(relative > USE_HOLDING, "holding", "steady")))
    return pd.DataFrame({"tool_id": board["tool_id"].to_numpy(), "recent_share": share.to_numpy(),
                         "board_share": median, "use_trend": code})


USE_WORDS = {
    "falling": "use is falling faster than the other tools'",
    "steady": "use follows the other tools' pattern",
    "holding": "use is holding up better than the other tools'",
    "few": "too few users to tell the use trend",
}


def rating_text(mean: float) -> str:
    return f"{mean:.1f}/5"


def summary_line(tool_roles: pd.DataFrame, use: pd.Series | None, board_row: pd.Series | None, min_n: int,
                 suppress: bool) -> str:
    """One plain sentence: the lead role's rating (n) and its trend, the use trend, the effect.
    E.g. "Teachers rate it 2.4/5 (n=30) and falling (2.0 in the last six months, 2.8 before); use follows
    the other tools' pattern (81% of its peak in the last 30 days); effect on learning -0.05 SD, evidence: Negative."""
    parts = []
    ok = tool_roles[tool_roles["enough"].astype(bool)] if len(tool_roles) else tool_roles
    if len(ok):
        lead = ok[ok["role"] == "teacher"]
        r = (lead if len(lead) else ok.sort_values("n", ascending=False)).iloc[0]
        who = ROLE_WHO.get(r["role"], str(r["role"])).capitalize()
        text = f"{who} rate it {rating_text(r['mean_rating'])} (n={int(r['n'])})"
        if r["trend"] in ("rising", "falling"):
            text += (f" and {r['trend']} ({r['recent_mean']:.1f} in the last six months, "
                     f"{r['earlier_mean']:.1f} before)")
        parts.append(text)
    elif len(tool_roles) and not suppress:
        parts.append(f"Only {int(tool_roles['n'].sum())} rating(s), too few to report a satisfaction")
    elif len(tool_roles):
        parts.append(f"Fewer than {min_n} ratings per role: satisfaction not shown")
    else:
        parts.append("No stakeholder ratings yet")
    if use is not None:
        words = USE_WORDS[str(use["use_trend"])]
        if use["use_trend"] != "few":
            words += f" ({fmt.pct(use['recent_share'])} of its peak in the last 30 days)"
        parts.append(words)
    if board_row is not None:
        label = board_row.get("evidence_label")
        effect = board_row.get("effect_size")
        if isinstance(label, str) and label and not label.startswith("Insufficient") and pd.notna(effect):
            parts.append(f"effect on learning {float(effect):+.2f} SD, evidence: {label}")
        else:
            parts.append("no measured effect on learning yet")
    return "; ".join(parts) + "."


def suppressed_roles(roles: pd.DataFrame, min_n: int) -> pd.DataFrame:
    """The by-role frame for aggregate-only readers (edtech.core.privacy.suppress_small): a count under
    `min_n` shown as '<min_n' with the statistics over that group blanked (a mean over three parents
    discloses as much as the count), and no trend unless both halves have `min_n` ratings."""
    out = suppress_small(roles, ["n"], min_n, mask_cols=["mean_rating", "share_4_5", "recent_mean",
                                                        "earlier_mean", "change", "change_ci_low",
                                                        "change_ci_high"])
    out = suppress_small(out, ["recent_n"], min_n, mask_cols=["recent_mean", "change", "change_ci_low",
                                                             "change_ci_high"])
    out = suppress_small(out, ["earlier_n"], min_n, mask_cols=["earlier_mean", "change", "change_ci_low",
                                                              "change_ci_high"])
    out.loc[~out["enough"].astype(bool), "trend"] = "few"
    return out
