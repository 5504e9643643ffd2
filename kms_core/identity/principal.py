"""A caller as authorization sees it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    arn: str
    #: "Account" (the root), "User", "AssumedRole" (aws:PrincipalType values)
    principal_type: str
    access_key_id: str

    @property
    def is_account_root(self) -> bool:
        return self.principal_type == "Account"
