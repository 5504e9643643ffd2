"""Seed files: accounts, identities and keys with fixed ids, declared in YAML.

`paramstore serve --seed FILE` (env PARAMSTORE_SEED_FILE) applies a seed file at start,
after migrations and the root-key check and before serving; `paramstore admin seed FILE`
applies one offline.  Teams use them for deterministic test fixtures: the same key ids,
access keys and aliases every time.

Format (every section and every field except the ids/names is optional)::

    accounts:
      - id: "111122223333"             # 12 digits (quote it: YAML would read a number)
        access_keys:                   # the account root's access keys (at most 2)
          - id: AKIAEXAMPLEROOT00001   # 16-128 upper-case letters and digits
            secret: "..."              # the secret access key, as clients will use it
            status: Active             # Active (default) or Inactive
        users:
          - name: app
            path: /                    # default /
            tags: {team: payments}
            policies:                  # inline policies: name -> document (mapping or JSON string)
              kms-use: {Version: "2012-10-17", Statement: [...]}
            access_keys: [{id: AKIA..., secret: ..., status: Active}]    # at most 2
        roles:
          - name: EncryptionApp
            trust_policy: {Version: "2012-10-17", Statement: [...]}       # required
            description: "..."
            path: /
            max_session_duration: 3600 # seconds, 3600..43200
            tags: {...}
            policies: {...}
        keys:                          # symmetric (SYMMETRIC_DEFAULT) customer managed keys
          - id: 1234abcd-12ab-34cd-56ef-1234567890ab   # fixed key id: a lower-case UUID
            region: us-east-1          # default us-east-1
            description: "..."
            policy: {...}              # key policy; AWS's default key policy otherwise
            enabled: true              # Enabled / Disabled
            rotation: {enabled: true, period_days: 365}   # period 90..2560, default 365
            tags: {env: test}
            aliases: [alias/app]       # in the key's account and region

Policy documents may be YAML mappings (stored as indented JSON) or JSON strings (stored
as written); an unquoted `Version: 2012-10-17` is fine.  Everything is validated before
anything is written, and errors name the place in the file:
`accounts[0].keys[1].id: not a valid key id ...`.

How a seed file is applied:

* In one write transaction: all of it or nothing.
* Idempotent, and it converges: each object in the file is created if missing; if it
  exists, the attributes the file declares are brought to the declared state (a policy
  document, a tag's value, a key's description, enabled flag or rotation, an alias's
  target, an access key's secret and status).  Attributes the file leaves out are left as
  they are (a key declared without `policy` keeps the policy it has), and a seed file
  never deletes anything: users, policies, tags, aliases or keys it doesn't mention stay.
  Re-applying an unchanged file changes nothing.
* A key is created with fresh random key material (wrapped by the root key) the first
  time only; re-applying never replaces material, so ciphertexts stay decryptable.  A key
  pending deletion is left pending (`enabled` is not applied to it).
* A key id that already exists in another account or region, or an access key id that
  belongs to another account or user, is an error.  An existing alias that points to
  another key is re-pointed to the declared one.
* Key policies are checked as CreateKey checks them (grammar, principals of this server's
  accounts must exist), except the lockout safety check: the operator bypasses it.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import yaml

from kms_core.domain import limits
from kms_core.domain.arn import ALIAS_NAME_RE, KEY_ID_RE, REGION_NAME
from kms_core.domain.errors import AwsError
from kms_core.domain.model import KeyState
from kms_core.identity import admin
from kms_core.identity.store import principal_exists_in, user_arn
from kms_core.operations.aliases import check_alias_quota
from kms_core.operations.tags import check_new_tags
from kms_core.policy.document import default_key_policy, validate_key_policy
from kms_core.policy.evaluate import compile_policy
from kms_core.policy.key_policy import INVALID_PRINCIPALS
from kms_core.storage import repository
from kms_core.storage.tables import AliasTable, access_key_row_identity
from kms_core.storage.unit_of_work import Conflict, UnitOfWork, writing

DEFAULT_REGION = "us-east-1"
ACCOUNT_ID_RE = re.compile(r"^\d{12}\Z", re.ASCII)
ACCESS_KEY_ID_RE = re.compile(r"^[A-Z0-9]{16,128}$")
MAX_DESCRIPTION = 8192


class SeedError(Exception):
    """A seed file that can't be applied; the message starts with the place in the file."""


# --- the parsed file ---------------------------------------------------------------------
@dataclass
class AccessKeySpec:
    where: str
    id: str
    secret: str
    status: str = "Active"


@dataclass
class UserSpec:
    where: str
    name: str
    path: Optional[str] = None
    tags: dict[str, str] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)
    access_keys: list[AccessKeySpec] = field(default_factory=list)


@dataclass
class RoleSpec:
    where: str
    name: str
    trust_policy: str
    path: Optional[str] = None
    description: Optional[str] = None
    max_session_duration: Optional[int] = None
    tags: dict[str, str] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)


@dataclass
class RotationSpec:
    enabled: bool
    period_days: int = limits.DEFAULT_ROTATION_PERIOD_DAYS


@dataclass
class KeySpec:
    where: str
    id: str
    region: str = DEFAULT_REGION
    description: Optional[str] = None
    policy: Optional[str] = None
    enabled: Optional[bool] = None
    rotation: Optional[RotationSpec] = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass
class AccountSpec:
    where: str
    id: str
    access_keys: list[AccessKeySpec] = field(default_factory=list)
    users: list[UserSpec] = field(default_factory=list)
    roles: list[RoleSpec] = field(default_factory=list)
    keys: list[KeySpec] = field(default_factory=list)


@dataclass
class Seed:
    accounts: list[AccountSpec] = field(default_factory=list)


@dataclass
class SeedReport:
    """What applying a seed did: one line per object created or brought to its declared state."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        return f"{len(self.created)} created, {len(self.updated)} updated"


# --- parsing and validation ----------------------------------------------------------------
def load_seed(source: Union[str, Path]) -> Seed:
    """Parse and validate a seed file (a Path, a file name, or the YAML text itself)."""
    if isinstance(source, Path) or ("\n" not in source and (
            source.strip().endswith((".yaml", ".yml")) or _is_file(source))):
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SeedError(f"cannot read the seed file: {exc}") from None
    else:
        text = source
    return parse_seed(text)


def _is_file(name: str) -> bool:
    try:
        return Path(name).is_file()
    except (OSError, ValueError):
        return False


def parse_seed(text: str) -> Seed:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = ": ".join(p for p in (getattr(exc, "context", None), getattr(exc, "problem", None)) if p)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise SeedError(f"not valid YAML{where}: {problem or exc}") from None
    if doc is None:
        return Seed()
    top = _fields(doc, "(top level)", {"accounts"})
    seed = Seed()
    seen_accounts: set[str] = set()
    seen_access_keys: set[str] = set()
    seen_keys: set[str] = set()
    for i, item in enumerate(_list(top.get("accounts"), "accounts")):
        account = _account(item, f"accounts[{i}]", seen_access_keys, seen_keys)
        if account.id in seen_accounts:
            raise SeedError(f"accounts[{i}].id: account {account.id} is declared twice")
        seen_accounts.add(account.id)
        seed.accounts.append(account)
    return seed


def _fields(value: Any, where: str, allowed: set[str], required: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        raise SeedError(f"{where}: expected a mapping, not {_kind(value)}")
    for name in value:
        if name not in allowed:
            raise SeedError(f"{_at(where, str(name))}: unknown field (expected one of: {', '.join(sorted(allowed))})")
    for name in required:
        if value.get(name) is None:
            raise SeedError(f"{_at(where, name)}: required")
    return value


def _at(where: str, name: str) -> str:
    return name if where == "(top level)" else f"{where}.{name}"


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)


def _list(value: Any, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SeedError(f"{where}: expected a list, not {_kind(value)}")
    return value


def _str(value: Any, where: str, hint: str = "") -> str:
    if not isinstance(value, str):
        raise SeedError(f"{where}: expected a string, not {_kind(value)}{hint}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise SeedError(f"{where}: expected true or false, not {_kind(value)}")
    return value


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SeedError(f"{where}: expected a whole number, not {_kind(value)}")
    if not low <= value <= high:
        raise SeedError(f"{where}: must be between {low} and {high}")
    return value


def _aws(where: str, call: Callable[[], Any]) -> Any:
    """Run an IAM/KMS validator, turning its error into a SeedError at `where`."""
    try:
        return call()
    except AwsError as exc:
        raise SeedError(f"{where}: {exc.message or exc.code}") from None


def _jsonable(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):  # unquoted Version: 2012-10-17
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise SeedError(f"{where}: {type(value).__name__} values can't appear in a policy document")


def _policy_text(value: Any, where: str) -> str:
    """A policy given as a mapping (stored as indented JSON) or as a JSON string (as is)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(_jsonable(value, where), indent=2)
    raise SeedError(f"{where}: expected a policy document (a mapping or a JSON string), not {_kind(value)}")


def _tags(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SeedError(f"{where}: expected a mapping of tag keys to values, not {_kind(value)}")
    out: dict[str, str] = {}
    for k, v in value.items():
        key = _str(k, f"{where}", " as a tag key (quote it)")
        out[key] = _str(v, f"{where}.{key}", " (quote the value)")
    return out


def _policies(value: Any, where: str, kind: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SeedError(f"{where}: expected a mapping of policy names to documents, not {_kind(value)}")
    out: dict[str, str] = {}
    for name, doc in value.items():
        at = f"{where}.{name}"
        _aws(at, lambda: admin.check_policy_name(name))  # noqa: B023  (called here, not kept)
        text = _policy_text(doc, at)
        _aws(at, lambda: admin.validate_identity_policy(text))  # noqa: B023  (called here, not kept)
        out[name] = text
    quota = admin.USER_POLICY_QUOTA if kind == admin.USER else admin.ROLE_POLICY_QUOTA
    if sum(admin.policy_size(t) for t in out.values()) > quota:
        raise SeedError(f"{where}: the inline policies exceed IAM's {quota}-character quota for a {kind}")
    return out


def _account(value: Any, where: str, seen_access_keys: set[str], seen_keys: set[str]) -> AccountSpec:
    item = _fields(value, where, {"id", "access_keys", "users", "roles", "keys"}, ("id",))
    account_id = item["id"]
    if isinstance(account_id, int) and not isinstance(account_id, bool):
        account_id = str(account_id)
    account_id = _str(account_id, f"{where}.id")
    if not ACCOUNT_ID_RE.match(account_id):
        raise SeedError(f"{where}.id: an account id is 12 digits (quote it in YAML), not {account_id!r}")
    account = AccountSpec(where, account_id)
    account.access_keys = _access_keys(item.get("access_keys"), f"{where}.access_keys", seen_access_keys)
    users: set[str] = set()
    for i, u in enumerate(_list(item.get("users"), f"{where}.users")):
        user = _user(u, f"{where}.users[{i}]", seen_access_keys)
        if user.name.lower() in users:
            raise SeedError(f"{user.where}.name: user {user.name} is declared twice")
        users.add(user.name.lower())
        account.users.append(user)
    roles: set[str] = set()
    for i, r in enumerate(_list(item.get("roles"), f"{where}.roles")):
        role = _role(r, f"{where}.roles[{i}]")
        if role.name.lower() in roles:
            raise SeedError(f"{role.where}.name: role {role.name} is declared twice")
        roles.add(role.name.lower())
        account.roles.append(role)
    aliases: dict[tuple[str, str], str] = {}
    for i, k in enumerate(_list(item.get("keys"), f"{where}.keys")):
        key = _key(k, f"{where}.keys[{i}]")
        if key.id in seen_keys:
            raise SeedError(f"{key.where}.id: key {key.id} is declared twice")
        seen_keys.add(key.id)
        for j, alias in enumerate(key.aliases):
            other = aliases.get((key.region, alias))
            if other is not None:
                raise SeedError(f"{key.where}.aliases[{j}]: {alias} is also declared for key {other}")
            aliases[(key.region, alias)] = key.id
        account.keys.append(key)
    return account


def _access_keys(value: Any, where: str, seen: set[str]) -> list[AccessKeySpec]:
    out = []
    items = _list(value, where)
    if len(items) > admin.MAX_ACCESS_KEYS_PER_USER:
        raise SeedError(f"{where}: at most {admin.MAX_ACCESS_KEYS_PER_USER} access keys")
    for i, k in enumerate(items):
        at = f"{where}[{i}]"
        item = _fields(k, at, {"id", "secret", "status"}, ("id", "secret"))
        akid = _str(item["id"], f"{at}.id")
        if not ACCESS_KEY_ID_RE.match(akid) or akid.startswith("ASIA"):
            raise SeedError(f"{at}.id: not a valid access key id (16 to 128 upper-case letters and digits, "
                            f"like AKIAIOSFODNN7EXAMPLE; ASIA... ids are for temporary credentials)")
        if akid in seen:
            raise SeedError(f"{at}.id: access key {akid} is declared twice")
        seen.add(akid)
        secret = _str(item["secret"], f"{at}.secret", " (quote it)")
        if not 1 <= len(secret) <= 128 or any(ch.isspace() for ch in secret):
            raise SeedError(f"{at}.secret: a secret access key is 1 to 128 characters without spaces")
        status = _str(item.get("status", "Active"), f"{at}.status")
        if status not in ("Active", "Inactive"):
            raise SeedError(f"{at}.status: must be Active or Inactive, not {status!r}")
        out.append(AccessKeySpec(at, akid, secret, status))
    return out


def _user(value: Any, where: str, seen_access_keys: set[str]) -> UserSpec:
    item = _fields(value, where, {"name", "path", "tags", "policies", "access_keys"}, ("name",))
    name = _str(item["name"], f"{where}.name")
    _aws(f"{where}.name", lambda: admin.check_name(name, "userName"))
    user = UserSpec(where, name)
    if item.get("path") is not None:
        path = _str(item["path"], f"{where}.path")
        user.path = _aws(f"{where}.path", lambda: admin.check_path(path))
    user.tags = _principal_tags(item.get("tags"), f"{where}.tags")
    user.policies = _policies(item.get("policies"), f"{where}.policies", admin.USER)
    user.access_keys = _access_keys(item.get("access_keys"), f"{where}.access_keys", seen_access_keys)
    return user


def _principal_tags(value: Any, where: str) -> dict[str, str]:
    tags = _tags(value, where)
    _aws(where, lambda: admin.check_tags([{"Key": k, "Value": v} for k, v in tags.items()]))
    return tags


def _role(value: Any, where: str) -> RoleSpec:
    item = _fields(value, where, {"name", "path", "description", "trust_policy", "max_session_duration",
                                  "tags", "policies"}, ("name", "trust_policy"))
    name = _str(item["name"], f"{where}.name")
    _aws(f"{where}.name", lambda: admin.check_name(name, "roleName"))
    trust = _policy_text(item["trust_policy"], f"{where}.trust_policy")
    _aws(f"{where}.trust_policy", lambda: admin.validate_trust_policy(trust))
    role = RoleSpec(where, name, trust)
    if item.get("path") is not None:
        path = _str(item["path"], f"{where}.path")
        role.path = _aws(f"{where}.path", lambda: admin.check_path(path))
    if item.get("description") is not None:
        role.description = _str(item["description"], f"{where}.description")
        if len(role.description) > 1000:
            raise SeedError(f"{where}.description: at most 1000 characters")
    if item.get("max_session_duration") is not None:
        role.max_session_duration = _int(item["max_session_duration"], f"{where}.max_session_duration",
                                         admin.MIN_SESSION_DURATION, admin.MAX_SESSION_DURATION)
    role.tags = _principal_tags(item.get("tags"), f"{where}.tags")
    role.policies = _policies(item.get("policies"), f"{where}.policies", admin.ROLE)
    return role


def _key(value: Any, where: str) -> KeySpec:
    item = _fields(value, where, {"id", "region", "description", "policy", "enabled", "rotation", "tags",
                                  "aliases"}, ("id",))
    key_id = _str(item["id"], f"{where}.id")
    if not KEY_ID_RE.match(key_id) or key_id.startswith("mrk-"):
        raise SeedError(f"{where}.id: not a valid key id (a lower-case UUID like "
                        f"1234abcd-12ab-34cd-56ef-1234567890ab), not {key_id!r}")
    key = KeySpec(where, key_id)
    if item.get("region") is not None:
        key.region = _str(item["region"], f"{where}.region")
        if not REGION_NAME.match(key.region):  # a Region requests can be signed for
            raise SeedError(f"{where}.region: not a valid region name: {key.region!r}")
    if item.get("description") is not None:
        key.description = _str(item["description"], f"{where}.description")
        if len(key.description) > MAX_DESCRIPTION:
            raise SeedError(f"{where}.description: at most {MAX_DESCRIPTION} characters")
    if item.get("policy") is not None:
        policy = _policy_text(item["policy"], f"{where}.policy")
        _aws(f"{where}.policy", lambda: validate_key_policy(policy))
        key.policy = policy
    if item.get("enabled") is not None:
        key.enabled = _bool(item["enabled"], f"{where}.enabled")
    if item.get("rotation") is not None:
        at = f"{where}.rotation"
        rot = _fields(item["rotation"], at, {"enabled", "period_days"}, ("enabled",))
        period = limits.DEFAULT_ROTATION_PERIOD_DAYS
        if rot.get("period_days") is not None:
            period = _int(rot["period_days"], f"{at}.period_days", limits.MIN_ROTATION_PERIOD_DAYS,
                          limits.MAX_ROTATION_PERIOD_DAYS)
        key.rotation = RotationSpec(_bool(rot["enabled"], f"{at}.enabled"), period)
    key.tags = _tags(item.get("tags"), f"{where}.tags")
    for tag_key, tag_value in key.tags.items():
        if not 1 <= len(tag_key) <= 128 or len(tag_value) > 256:
            raise SeedError(f"{where}.tags.{tag_key}: tag keys are 1 to 128 characters, values at most 256")
        if tag_key.lower().startswith("aws:"):
            raise SeedError(f"{where}.tags.{tag_key}: tags beginning with aws: are reserved")
    if len(key.tags) > limits.MAX_TAGS_PER_KEY:
        raise SeedError(f"{where}.tags: a key can have at most {limits.MAX_TAGS_PER_KEY} tags")
    aliases = _list(item.get("aliases"), f"{where}.aliases")
    for j, alias in enumerate(aliases):
        at = f"{where}.aliases[{j}]"
        alias = _str(alias, at)
        if not ALIAS_NAME_RE.match(alias) or len(alias) > 256:
            raise SeedError(f"{at}: not a valid alias name (alias/ then letters, digits, / _ -): {alias!r}")
        if alias.startswith("alias/aws/"):
            raise SeedError(f"{at}: alias/aws/ is reserved for AWS managed keys")
        if alias in key.aliases:
            raise SeedError(f"{at}: {alias} is declared twice")
        key.aliases.append(alias)
    if len(key.aliases) > limits.MAX_ALIASES_PER_KEY:
        raise SeedError(f"{where}.aliases: a key can have at most {limits.MAX_ALIASES_PER_KEY} aliases")
    return key


# --- applying --------------------------------------------------------------------------------
def apply_seed(store: Any, source: Union[str, Path, Seed]) -> SeedReport:
    """Validate and apply a seed file to an open store (paramstore.bootstrap.Store) in one
    write transaction; returns what changed.  Raises SeedError (nothing written) if the
    file is invalid or conflicts with the store.

    It writes through the repositories the API's operations use, and checks what the
    API checks with the API's own rules (IAM's in identity/admin.py, tag and alias limits
    from the KMS operations, the rotation schedule in storage/repository.py)."""
    seed = source if isinstance(source, Seed) else load_seed(source)
    for attempt in range(3):
        try:
            report = SeedReport()
            with writing(store.db, store.root) as work:
                applier = _Applier(store, work, store.kms.clock(), report)
                for account in seed.accounts:
                    applier.account(account)
            break
        except Conflict:
            # Another process (a second server starting on the same database) applied the
            # same objects concurrently: the next attempt finds them in place.
            if attempt == 2:
                raise
    store.kms.changed()
    return report


class _Applier:
    def __init__(self, store: Any, work: UnitOfWork, now: float, report: SeedReport) -> None:
        self.store, self.work, self.now, self.report = store, work, now, report
        self.rows = work.identities
        self.identities = store.kms.identities

    def account(self, spec: AccountSpec) -> None:
        if not self.rows.account_exists(spec.id):
            self.rows.add_account(spec.id, self.now)
            self.rows.flush()
            self.report.created.append(f"account {spec.id}")
        for key in spec.access_keys:
            self.access_key(spec.id, None, key)
        for user in spec.users:
            self.user(spec.id, user)
        for role in spec.roles:
            self.role(spec.id, role)
        self.work.flush()
        for key in spec.keys:
            self.key(spec.id, key)

    # --- identities -----------------------------------------------------------------------
    def access_key(self, account_id: str, user_name: Optional[str], spec: AccessKeySpec) -> None:
        owner = f"user {user_name}" if user_name else f"the root user of account {account_id}"
        row = self.rows.access_key(spec.id)
        if row is None:
            row, _ = _aws(spec.where, lambda: admin.create_access_key(
                self.identities, self.rows, account_id, user_name, self.now, spec.id, spec.secret))
            if spec.status != "Active":
                row.status = spec.status
                self.rows.save(row)
            self.report.created.append(f"access key {spec.id} of {owner}")
            return
        if row.account_id != account_id or row.user_name != user_name:
            holder = f"user {row.user_name}" if row.user_name else "the root user"
            raise SeedError(f"{spec.where}.id: access key {spec.id} already exists for {holder} of account "
                            f"{row.account_id}")
        identity = access_key_row_identity(row.access_key_id, row.account_id)
        changed = False
        if self.store.root.unwrap(row.secret_wrapped, identity).decode() != spec.secret:
            row.secret_wrapped = self.store.root.wrap(spec.secret.encode(), identity)
            changed = True
        if row.status != spec.status:
            row.status = spec.status
            changed = True
        if changed:
            self.rows.save(row)
            self.report.updated.append(f"access key {spec.id} of {owner}")

    def _principal_tags(self, account_id: str, kind: str, name: str, tags: dict[str, str]) -> bool:
        """Set each tag; IAM tag keys are case-insensitive, so a key given in another case
        replaces the stored one."""
        existing = self.rows.tags_of(account_id, kind, name)
        merged = {k: v for k, v in existing.items() if k.lower() not in {t.lower() for t in tags}}
        merged.update(tags)
        if merged == existing:
            return False
        if len(merged) > admin.MAX_TAGS:
            raise SeedError(f"{kind} {name}: more than {admin.MAX_TAGS} tags")
        self.rows.delete_tags(account_id, kind, name)
        self.rows.flush()
        self.rows.add_tags(account_id, kind, name, merged)
        self.rows.flush()
        return True

    def _inline_policies(self, where: str, account_id: str, kind: str, name: str,
                         policies: dict[str, str]) -> bool:
        changed = False
        for policy_name, document in policies.items():
            row = self.rows.inline_policy(account_id, kind, name, policy_name)
            if row is None or row.document != document:
                _aws(f"{where}.policies.{policy_name}", lambda: admin.put_inline_policy(
                    self.rows, account_id, kind, name, policy_name, document))  # noqa: B023  (called here)
                changed = True
        return changed

    def user(self, account_id: str, spec: UserSpec) -> None:
        row = self.rows.user(account_id, spec.name)
        if row is None:
            _aws(f"{spec.where}.name", lambda: admin.create_user(self.rows, account_id, spec.name, self.now,
                                                                 spec.path or "/", spec.tags))
            self._inline_policies(spec.where, account_id, admin.USER, spec.name, spec.policies)
            self.report.created.append(f"user {spec.name} in account {account_id}")
        else:
            changed = False
            if spec.path is not None and row.path != spec.path:
                row.path = spec.path
                self.rows.save(row)
                for key in admin.access_keys_of(self.rows, account_id, spec.name):
                    key.principal_arn = user_arn(account_id, spec.name, spec.path)
                    self.rows.save(key)
                changed = True
            changed |= self._principal_tags(account_id, admin.USER, spec.name, spec.tags)
            changed |= self._inline_policies(spec.where, account_id, admin.USER, spec.name, spec.policies)
            if changed:
                self.report.updated.append(f"user {spec.name} in account {account_id}")
        for key in spec.access_keys:
            self.access_key(account_id, spec.name, key)

    def role(self, account_id: str, spec: RoleSpec) -> None:
        row = self.rows.role(account_id, spec.name)
        if row is None:
            _aws(f"{spec.where}.name", lambda: admin.create_role(
                self.rows, account_id, spec.name, spec.trust_policy, self.now, spec.path or "/",
                spec.description or "", spec.max_session_duration, spec.tags))
            self._inline_policies(spec.where, account_id, admin.ROLE, spec.name, spec.policies)
            self.report.created.append(f"role {spec.name} in account {account_id}")
            return
        changed = False
        if row.assume_role_policy != spec.trust_policy:
            row.assume_role_policy = spec.trust_policy
            changed = True
        for attr, value in (("path", spec.path), ("description", spec.description),
                            ("max_session_duration", spec.max_session_duration)):
            if value is not None and getattr(row, attr) != value:
                setattr(row, attr, value)
                changed = True
        if changed:
            self.rows.save(row)
        changed |= self._principal_tags(account_id, admin.ROLE, spec.name, spec.tags)
        changed |= self._inline_policies(spec.where, account_id, admin.ROLE, spec.name, spec.policies)
        if changed:
            self.report.updated.append(f"role {spec.name} in account {account_id}")

    # --- keys -----------------------------------------------------------------------------
    def _check_key_policy_principals(self, spec: KeySpec) -> None:
        compiled = compile_policy(spec.policy, resource_policy=True)
        for st in compiled.statements:
            if st.principal is not None:
                for arn in st.principal.arns:
                    if not principal_exists_in(self.rows, arn):
                        raise SeedError(f"{spec.where}.policy: {INVALID_PRINCIPALS} ({arn} does not exist)")

    def key(self, account_id: str, spec: KeySpec) -> None:
        if spec.policy is not None:
            self._check_key_policy_principals(spec)
        keys = self.work.keys
        row = keys.get(spec.id)
        label = f"key {spec.id} in account {account_id} {spec.region}"
        changed = False
        if row is None:
            _aws(f"{spec.where}.tags", lambda: check_new_tags({}, _tag_list(spec.tags)))
            row = repository.new_key_row(spec.id, account_id, spec.region, self.now,
                                         spec.policy if spec.policy is not None else default_key_policy(account_id),
                                         description=spec.description or "")
            keys.insert(row, self.now, spec.tags)
            self.report.created.append(label)
            created = True
        else:
            if row.account_id != account_id or row.region != spec.region:
                raise SeedError(f"{spec.where}.id: key {spec.id} already exists in account {row.account_id} "
                                f"region {row.region}")
            created = False
            if spec.description is not None and row.description != spec.description:
                row.description = spec.description
                changed = True
            if spec.policy is not None and row.policy != spec.policy:
                row.policy = spec.policy
                changed = True
            changed |= self._key_tags(spec)
        if spec.enabled is not None and row.key_state in (KeyState.ENABLED, KeyState.DISABLED):
            state = KeyState.ENABLED if spec.enabled else KeyState.DISABLED
            if row.key_state != state:
                row.key_state = state
                changed = True
        if spec.rotation is not None:
            if spec.rotation.enabled:
                if not row.rotation_enabled or row.rotation_period_days != spec.rotation.period_days:
                    repository.schedule_rotation(row, self.now, spec.rotation.period_days)
                    changed = True
            elif row.rotation_enabled:
                repository.stop_rotation(row)
                changed = True
        keys.save(row)
        self.work.flush()
        changed |= self._aliases(account_id, spec)
        if changed and not created:
            self.report.updated.append(label)

    def _key_tags(self, spec: KeySpec) -> bool:
        """TagResource's rule (operations/tags.py) decides what may be added."""
        existing = {k: r.tag_value for k, r in self.work.tags.of_key(spec.id).items()}
        new = {k: v for k, v in spec.tags.items() if existing.get(k) != v}
        if not new:
            return False
        _aws(f"{spec.where}.tags", lambda: check_new_tags(existing, _tag_list(new)))
        self.work.tags.put(spec.id, new)
        self.work.flush()
        return True

    def _aliases(self, account_id: str, spec: KeySpec) -> bool:
        """CreateAlias's and UpdateAlias's quota (operations/aliases.py) applies."""
        changed = False
        for j, name in enumerate(spec.aliases):
            row = self.work.aliases.get(account_id, spec.region, name)
            if row is not None and row.target_key_id == spec.id:
                continue
            _aws(f"{spec.where}.aliases[{j}]", lambda: check_alias_quota(self.work, spec.id))
            if row is None:
                self.work.aliases.add(AliasTable(account_id=account_id, region=spec.region, alias_name=name,
                                                 target_key_id=spec.id, creation_date=self.now,
                                                 last_updated_date=self.now))
            else:
                row.target_key_id = spec.id
                row.last_updated_date = self.now
                self.work.aliases.save(row)
            self.work.flush()
            changed = True
        return changed


def _tag_list(tags: dict[str, str]) -> list[dict]:
    return [{"TagKey": k, "TagValue": v} for k, v in tags.items()]


__all__ = ["SeedError", "SeedReport", "Seed", "apply_seed", "load_seed", "parse_seed"]
