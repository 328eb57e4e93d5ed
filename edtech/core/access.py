"""Who may do what: the one permission matrix (role x page x action).

The checks in `edtech.services`, the app's navigation, the README's role table and the tests all read
these tables; nothing else decides access. A signed-in identity becomes a `Principal` (its role and,
for a coordinator, its schools, both stored with the account) and every use case receives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from edtech.core.scope import Scope


class Role(StrEnum):
    DIRECTOR = "director"
    COORDINATOR = "coordinator"
    BOARD = "board"
    VIEWER = "viewer"


ROLE_LABELS: dict[Role, str] = {
    Role.DIRECTOR: "Director",
    Role.COORDINATOR: "School coordinator",
    Role.BOARD: "Board member",
    Role.VIEWER: "Viewer",
}
ROLE_SUMMARY: dict[Role, str] = {
    Role.DIRECTOR: "everything, every school",
    Role.COORDINATOR: "the schools assigned to the account, student-level included",
    Role.BOARD: "district aggregates (cells under the suppression threshold hidden)",
    Role.VIEWER: "district aggregates, read-only: no exports, no budget edits",
}


class Action(StrEnum):
    VIEW_STUDENTS = "view student-level records"
    EXPORT_STUDENTS = "export student-level CSV"
    EXPORT_AGGREGATES = "download aggregate tables and charts"
    BOARD_REPORT = "produce the board report (PDF, PowerPoint, memos)"
    IMPORT = "import rows of their own schools"
    IMPORT_DISTRICT = "import district-wide tables (tools, funding, district licenses, aggregates)"
    SAVE_SETTINGS = "change ROI weights and settings"
    EDIT_BUDGET = "explore budget what-ifs"
    SAVE_SCENARIO = "save budget scenarios (and delete their own)"
    DELETE_ANY_SCENARIO = "delete anyone's saved scenario"
    TRAIN_MODEL = "train the at-risk model on their scope"
    PUBLISH_MODEL = "store and publish a model version for the board"
    RECORD_DECISION = "record a decision per tool"
    ASSIGN_INTERVENTION = "assign an intervention to a student of their schools"
    EDIT_ROADMAP = "create and edit roadmap initiatives and KPIs"
    READ_COMMENTS = "read stakeholders' comments on tools"
    MANAGE_USERS = "add, change and remove accounts"
    READ_AUDIT = "read and export the audit trail"


_D, _C, _B, _V = Role.DIRECTOR, Role.COORDINATOR, Role.BOARD, Role.VIEWER

PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.VIEW_STUDENTS: frozenset({_D, _C}),
    Action.EXPORT_STUDENTS: frozenset({_D, _C}),
    Action.EXPORT_AGGREGATES: frozenset({_D, _C, _B}),
    Action.BOARD_REPORT: frozenset({_D, _B}),
    Action.IMPORT: frozenset({_D, _C}),
    Action.IMPORT_DISTRICT: frozenset({_D}),
    Action.SAVE_SETTINGS: frozenset({_D}),
    Action.EDIT_BUDGET: frozenset({_D, _B}),
    Action.SAVE_SCENARIO: frozenset({_D, _B}),
    Action.DELETE_ANY_SCENARIO: frozenset({_D}),
    Action.TRAIN_MODEL: frozenset({_D, _C}),
    Action.PUBLISH_MODEL: frozenset({_D}),
    Action.RECORD_DECISION: frozenset({_D}),
    Action.ASSIGN_INTERVENTION: frozenset({_D, _C}),
    Action.EDIT_ROADMAP: frozenset({_D}),
    Action.READ_COMMENTS: frozenset({_D, _C}),
    Action.MANAGE_USERS: frozenset({_D}),
    Action.READ_AUDIT: frozenset({_D}),
}

# page (the app_pages file stem) -> roles that open it
PAGES: dict[str, frozenset[Role]] = {
    "overview": frozenset({_D, _C, _B, _V}),
    "tool_roi": frozenset({_D, _C, _B, _V}),
    "vetting": frozenset({_D, _C}),
    "adoption": frozenset({_D, _C, _B, _V}),
    "at_risk": frozenset({_D, _C}),
    "interventions": frozenset({_D, _C, _B, _V}),
    "roadmap": frozenset({_D, _C, _B, _V}),
    "budget": frozenset({_D, _B, _V}),
    "report": frozenset({_D, _B, _V}),
    "data": frozenset({_D, _C}),
    "admin": frozenset({_D}),
}
PAGE_TITLES: dict[str, str] = {
    "overview": "Overview", "tool_roi": "Tool ROI", "vetting": "Vetting", "adoption": "School adoption",
    "at_risk": "At-risk students", "interventions": "Interventions", "roadmap": "Roadmap",
    "budget": "Budget scenarios", "report": "Board report", "data": "Data",
    "admin": "Admin",
}


class AccessDenied(PermissionError):
    """A principal asked for something its role does not allow (shown to the user as is)."""


@dataclass(frozen=True)
class Principal:
    """A signed-in identity: email (lower case), display name, role and, for a coordinator, schools."""

    email: str
    role: Role
    name: str = ""
    schools: frozenset[str] = field(default_factory=frozenset)
    demo: bool = False

    @property
    def label(self) -> str:
        return f"{self.name or self.email} ({ROLE_LABELS[self.role]})"

    @property
    def scope(self) -> Scope:
        """None = every school; a coordinator sees only the schools assigned to the account."""
        return frozenset(self.schools) if self.role == Role.COORDINATOR else None

    def can(self, action: Action) -> bool:
        return self.role in PERMISSIONS[action]

    def can_open(self, page: str) -> bool:
        return self.role in PAGES.get(page, frozenset())

    def require(self, action: Action) -> None:
        if not self.can(action):
            raise AccessDenied(f"A {ROLE_LABELS[self.role].lower()} cannot {action.value}.")

    def require_page(self, page: str) -> None:
        if not self.can_open(page):
            raise AccessDenied(f"A {ROLE_LABELS[self.role].lower()} cannot open {PAGE_TITLES.get(page, page)}.")


# the command line acts as a director unless --as names an account
SYSTEM = Principal(email="cli", role=Role.DIRECTOR, name="Command line")


def scope_for(principal: Principal, requested: Scope = None) -> Scope:
    """The scope a principal may read: a coordinator's request is cut to the assigned schools (another
    school's id yields nothing, whatever the URL); other roles get what they ask for (None = district)."""
    allowed = principal.scope
    if allowed is None:
        return requested
    if requested is None:
        return allowed
    return frozenset(requested) & allowed


def parse_role(text: str) -> Role:
    key = str(text).strip().lower()
    for role in Role:
        if key in (role.value, ROLE_LABELS[role].lower()):
            return role
    raise ValueError(f"Unknown role {text!r}: use one of {', '.join(r.value for r in Role)}.")


def permission_table() -> str:
    """The README's role table (a doc test checks the README holds exactly this)."""
    roles = list(Role)
    head = "| | " + " | ".join(ROLE_LABELS[r] for r in roles) + " |"
    rows = [head, "|---" * (len(roles) + 1) + "|"]
    rows.append("| **sees** | " + " | ".join(ROLE_SUMMARY[r] for r in roles) + " |")
    for page, allowed in PAGES.items():
        rows.append(f"| page: {PAGE_TITLES[page]} | " + " | ".join("yes" if r in allowed else "—" for r in roles) + " |")
    for action, allowed in PERMISSIONS.items():
        rows.append(f"| {action.value} | " + " | ".join("yes" if r in allowed else "—" for r in roles) + " |")
    return "\n".join(rows)
