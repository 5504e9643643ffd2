"""A caller as authorization sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

ROOT = "Account"
USER = "User"
ASSUMED_ROLE = "AssumedRole"


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    #: the caller's ARN: ...:root, ...:user/<name>, or arn:aws:sts::<acct>:assumed-role/<role>/<session>
    arn: str
    #: aws:PrincipalType: "Account" (the root), "User", "AssumedRole"
    principal_type: str
    access_key_id: str
    #: IAM user name (users) or role name (assumed roles); None for the root
    name: Optional[str] = None
    #: aws:userid: the user id, "<role id>:<session>" for a role session, the account id for the root
    user_id: Optional[str] = None
    #: the role's ARN for an assumed role (what key policies name); else the same as `arn`
    source_arn: Optional[str] = None
    #: aws:PrincipalTag/<key> values
    tags: dict[str, str] = field(default_factory=dict)
    session_expires: Optional[float] = None
    #: aws:TokenIssueTime for requests made with session credentials (None otherwise)
    token_issued: Optional[float] = None
    #: role sessions: the session tags that pass on to a chained session, the source
    #: identity, and the compiled session policy that narrows what the session may do
    transitive_tag_keys: frozenset[str] = frozenset()
    source_identity: Optional[str] = None
    session_policy: Optional[Any] = None

    @property
    def is_account_root(self) -> bool:
        return self.principal_type == ROOT

    @property
    def principal_arn(self) -> str:
        """aws:PrincipalArn: for a role session, the role's ARN."""
        return self.source_arn or self.arn

    @property
    def policy_owner(self) -> Optional[tuple[str, str]]:
        """("user"|"role", name) whose inline policies apply; None for the root."""
        if self.principal_type == USER:
            return ("user", self.name or "")
        if self.principal_type == ASSUMED_ROLE:
            return ("role", self.name or "")
        return None
