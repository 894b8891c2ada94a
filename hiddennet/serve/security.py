"""The dashboard's security vocabulary, as replaceable defaults: who is asking (actor), may they
(permission check, default deny), and what happened (typed audit events through one sink).

Users and tokens live in `hiddennet.serve.users`, server-held sessions in `sessions`, CSRF in
`csrf`, sign-in throttling in `throttle`, single sign-on in `oidc`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hiddennet import auditlog
from hiddennet.serve.users import (  # noqa: F401 - re-exported: the users API lived here first
    ROLES,
    User,
    add_user,
    hash_token,
    load_users,
    new_token,
)

# Actions a page or API endpoint asks permission for.
VIEW_OVERVIEW = "view_overview"
VIEW_GROUPS = "view_groups"
VIEW_GROUP = "view_group"
VIEW_DISMANTLING = "view_dismantling"
VIEW_SAFEGUARDING = "view_safeguarding"
VIEW_PERSON = "view_person"
MAKE_REFERRAL_PACK = "make_referral_pack"
SEARCH = "search"  # by group id; by nominal id only with VIEW_PERSON (ids would undo the anonymising)
SEARCH_IDENTITY = "search_identity"  # by name or PNC id (input_nominals): per-person access only
VIEW_CHANGES = "view_changes"  # changes since the previous run and alerts (docs/continuity.md)
VIEW_NETWORK = "view_network"  # the person-centred view: a nominal's links across groups, paths
EXPORT_GROUP = "export_group"  # CSV, GraphML, GEXF and i2 exports of a group (as the role sees it)
EXPORT_NETWORK = "export_network"  # the same of a person-centred view

# Default policy: role -> actions. Anything not listed is denied. Per-person detail (names of
# nominals on pictures, a person's harm lines) is for intelligence officers only; the
# safeguarding list is for safeguarding leads (their own areas) and intelligence officers.
DEFAULT_POLICY: dict[str, frozenset[str]] = {
    "analyst": frozenset(
        {VIEW_OVERVIEW, VIEW_GROUPS, VIEW_GROUP, VIEW_DISMANTLING, SEARCH, EXPORT_GROUP, VIEW_CHANGES}
    ),
    "intelligence_officer": frozenset(
        {
            VIEW_OVERVIEW,
            VIEW_GROUPS,
            VIEW_GROUP,
            VIEW_DISMANTLING,
            VIEW_SAFEGUARDING,
            VIEW_PERSON,
            SEARCH,
            SEARCH_IDENTITY,
            VIEW_NETWORK,
            EXPORT_GROUP,
            EXPORT_NETWORK,
            VIEW_CHANGES,
        }
    ),
    "safeguarding_lead": frozenset({VIEW_OVERVIEW, VIEW_SAFEGUARDING, MAKE_REFERRAL_PACK}),
}

# Roles whose view of people is limited to the local areas they are given.
AREA_SCOPED_ROLES = frozenset({"safeguarding_lead"})


@dataclass(frozen=True)
class Actor:
    name: str
    role: str
    areas: tuple[str, ...] = ()
    source: str = "token"  # token | oidc | custom

    @property
    def area_scoped(self) -> bool:
        return self.role in AREA_SCOPED_ROLES

    def sees_area(self, area: str | None) -> bool:
        """An area-scoped actor sees only their areas; others see every area."""
        return not self.area_scoped or (area is not None and area in self.areas)


class ActorResolver(Protocol):
    def __call__(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Actor | None: ...


PermissionCheck = Callable[[Actor | None, str, str | None], bool]


def policy_permission(policy: Mapping[str, Iterable[str]] = DEFAULT_POLICY) -> PermissionCheck:
    """(actor, action, resource) -> allowed. Default deny: no actor, an unknown role or an
    action the role does not list is refused."""
    table = {role: frozenset(actions) for role, actions in policy.items()}

    def allowed(actor: Actor | None, action: str, resource: str | None) -> bool:
        if actor is None:
            return False
        return action in table.get(actor.role, frozenset())

    return allowed


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit log: who tried to do what to which resource, and the outcome."""

    time_utc: str
    actor: str | None
    role: str | None
    action: str
    resource: str | None
    # allowed, denied, not_found, error, rejected_csrf, rejected_input, rejected_host, signed_in,
    # sign_in_failed, sign_in_throttled, signed_out, session_ended
    outcome: str
    client: str | None
    method: str
    path: str
    status: int
    correlation_id: str | None = None
    detail: str | None = field(default=None)  # a reason code, never a person's data

    @staticmethod
    def now() -> str:
        return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditSink(Protocol):
    def write(self, event: AuditEvent) -> None: ...


class JsonlAuditSink:
    """The hash-chained audit log (`hiddennet.auditlog`): one fsynced line per event, written before
    the response goes out, so a crash cannot lose an access and an edit shows."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def write(self, event: AuditEvent) -> None:
        auditlog.append_event(self.path, as_record(event))


def as_record(event: AuditEvent) -> dict[str, Any]:
    return asdict(event)
