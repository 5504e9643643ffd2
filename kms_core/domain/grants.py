"""Grants as data: what a key's grants are, for policy evaluation (kms_core/policy/grants.py)
and storage (kms_core/storage/repository.py) alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional


@dataclass(frozen=True, slots=True)
class Grant:
    grant_id: str
    key_id: str
    name: Optional[str]
    grantee_principal: str
    retiring_principal: Optional[str]
    operations: tuple[str, ...]
    constraints: Optional[dict[str, Any]]
    issuing_account: str
    creation_date: float


class GrantSet(tuple[Grant, ...]):
    """A key's grants, oldest first, indexed by grantee principal (a key may hold 50,000
    grants; a request only looks at the few naming its caller)."""

    by_grantee: dict[str, list[Grant]]

    def __new__(cls, grants: Iterable[Grant] = ()) -> "GrantSet":
        self = super().__new__(cls, grants)
        index: dict[str, list[Grant]] = {}
        for g in self:
            index.setdefault(g.grantee_principal, []).append(g)
        self.by_grantee = index
        return self

    def for_grantees(self, arns: Iterable[str]) -> list[Grant]:
        found: list[Grant] = []
        for arn in dict.fromkeys(arns):
            found.extend(self.by_grantee.get(arn, ()))
        return found
