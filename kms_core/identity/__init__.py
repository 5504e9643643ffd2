"""Who is calling: principals behind access keys, looked up with a cached store."""

from kms_core.domain.principal import Principal
from kms_core.identity.store import IdentityStore

__all__ = ["Principal", "IdentityStore"]
