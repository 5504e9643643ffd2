"""paramstore.seed: parsing and validating seed files, and applying them to a store."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from sqlmodel import select

from kms_core.storage.tables import (
    AccessKeyTable,
    AccountTable,
    AliasTable,
    IamInlinePolicyTable,
    IamPrincipalTagTable,
    IamRoleTable,
    IamUserTable,
    KeyMaterialTable,
    KeyTable,
    KeyTagTable,
    access_key_row_identity,
)
from paramstore.bootstrap import StartupError, open_store
from paramstore.seed import SeedError, apply_seed, load_seed, parse_seed
from paramstore.settings import Settings
from tests.conftest import ACCESS_KEY_ID, ACCOUNT_ID, SECRET_ACCESS_KEY

KEY_A = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_B = "0000abcd-12ab-34cd-56ef-1234567890ab"

SEED = textwrap.dedent(f"""\
    accounts:
      - id: "{ACCOUNT_ID}"
        users:
          - name: app
            path: /apps/
            tags: {{team: payments}}
            policies:
              kms-use:
                Version: 2012-10-17          # unquoted: YAML reads a date
                Statement:
                  - Effect: Allow
                    Action: [kms:Encrypt, kms:Decrypt, kms:DescribeKey]
                    Resource: "*"
            access_keys:
              - id: AKIAEXAMPLEAPPUSER01
                secret: app-secret-0123456789
        roles:
          - name: EncryptionApp
            description: encrypts things
            max_session_duration: 7200
            trust_policy: '{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
              "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT_ID}:root"}}, "Action": "sts:AssumeRole"}}]}}'
            policies:
              encrypt: {{Version: "2012-10-17", Statement: [{{Effect: Allow, Action: "kms:Encrypt", Resource: "*"}}]}}
        keys:
          - id: {KEY_A}
            description: fixture key
            enabled: true
            rotation: {{enabled: true, period_days: 180}}
            tags: {{env: test}}
            aliases: [alias/app, alias/app-too]
            policy:
              Version: "2012-10-17"
              Statement:
                - Effect: Allow
                  Principal: {{AWS: "arn:aws:iam::{ACCOUNT_ID}:root"}}
                  Action: "kms:*"
                  Resource: "*"
                - Effect: Allow
                  Principal: {{AWS: "arn:aws:iam::{ACCOUNT_ID}:user/apps/app"}}
                  Action: "kms:Encrypt"
                  Resource: "*"
          - id: {KEY_B}
            region: eu-west-1
            enabled: false
      - id: "444455556666"
        access_keys:
          - id: AKIAEXAMPLEROOT00001
            secret: root-secret-0123456789
            status: Active
""")


@pytest.fixture
def store(tmp_path, monkeypatch):
    for name in ("PARAMSTORE_ROOT_KEY", "PARAMSTORE_DATABASE_URL", "PARAMSTORE_SEED_FILE"):
        monkeypatch.delenv(name, raising=False)
    opened = open_store(_settings(tmp_path))
    yield opened
    opened.db.dispose()


def _settings(data_dir: Path, **kw) -> Settings:
    return Settings(data_dir=data_dir, database_url=None, account_id=ACCOUNT_ID, admin_access_key_id=ACCESS_KEY_ID,
                    admin_secret_access_key=SECRET_ACCESS_KEY, **kw)


def _rows(store, table) -> list:
    with store.db.session() as session:
        return [r.model_dump() for r in session.exec(select(table))]


def _error(text: str) -> str:
    with pytest.raises(SeedError) as err:
        parse_seed(textwrap.dedent(text))
    return str(err.value)


# --- parsing and validation ------------------------------------------------------------------
def test_a_valid_seed_parses():
    seed = parse_seed(SEED)
    first, second = seed.accounts
    assert first.id == ACCOUNT_ID and second.id == "444455556666"
    assert json.loads(first.users[0].policies["kms-use"])["Version"] == "2012-10-17"
    assert first.users[0].path == "/apps/" and first.users[0].tags == {"team": "payments"}
    assert first.roles[0].max_session_duration == 7200
    assert [k.id for k in first.keys] == [KEY_A, KEY_B]
    assert first.keys[0].rotation.period_days == 180 and first.keys[1].region == "eu-west-1"
    assert first.keys[1].enabled is False and first.keys[1].policy is None
    assert second.access_keys[0].secret == "root-secret-0123456789"


def test_an_empty_file_is_an_empty_seed():
    assert parse_seed("").accounts == [] and parse_seed("accounts: []").accounts == []


@pytest.mark.parametrize("text, expected", [
    ("accounts: [\n", "not valid YAML"),
    ("- 1\n", "(top level): expected a mapping"),
    ("acounts: []\n", "acounts: unknown field"),
    ("accounts: {id: 1}\n", "accounts: expected a list"),
    ("accounts:\n  - id: '12345'\n", "accounts[0].id: an account id is 12 digits"),
    ("accounts:\n  - {}\n", "accounts[0].id: required"),
    ("accounts:\n  - {id: '111122223333', color: red}\n", "accounts[0].color: unknown field"),
    ("accounts:\n  - id: '111122223333'\n    keys:\n      - id: 1234abcd-12ab-34cd-56ef-1234567890ab\n"
     "      - id: not-a-key\n", "accounts[0].keys[1].id: not a valid key id"),
    ("accounts:\n  - id: '111122223333'\n    keys:\n      - id: 1234ABCD-12AB-34CD-56EF-1234567890AB\n",
     "accounts[0].keys[0].id: not a valid key id"),
    ("accounts:\n  - id: '111122223333'\n    keys:\n      - {id: 1234abcd-12ab-34cd-56ef-1234567890ab}\n"
     "      - {id: 1234abcd-12ab-34cd-56ef-1234567890ab}\n", "accounts[0].keys[1].id: key 1234abcd"),
    ("accounts:\n  - id: '111122223333'\n    keys:\n      - id: 1234abcd-12ab-34cd-56ef-1234567890ab\n"
     "        policy: {Statement: [{Effect: Maybe, Principal: '*', Action: 'kms:*', Resource: '*'}]}\n",
     "accounts[0].keys[0].policy: "),
    ("accounts:\n  - id: '111122223333'\n    keys:\n      - id: 1234abcd-12ab-34cd-56ef-1234567890ab\n"
     "        rotation: {enabled: true, period_days: 30}\n",
     "accounts[0].keys[0].rotation.period_days: must be between 90 and 2560"),
    ("accounts:\n  - id: '111122223333'\n    keys:\n      - id: 1234abcd-12ab-34cd-56ef-1234567890ab\n"
     "        aliases: [alias/aws/s3]\n", "accounts[0].keys[0].aliases[0]: alias/aws/ is reserved"),
    ("accounts:\n  - id: '111122223333'\n    keys:\n      - id: 1234abcd-12ab-34cd-56ef-1234567890ab\n"
     "        aliases: [app]\n", "accounts[0].keys[0].aliases[0]: not a valid alias name"),
    ("accounts:\n  - id: '111122223333'\n    keys:\n      - id: 1234abcd-12ab-34cd-56ef-1234567890ab\n"
     "        aliases: [alias/x]\n      - id: 0000abcd-12ab-34cd-56ef-1234567890ab\n        aliases: [alias/x]\n",
     "accounts[0].keys[1].aliases[0]: alias/x is also declared for key 1234abcd"),
    ("accounts:\n  - id: '111122223333'\n    keys:\n      - id: 1234abcd-12ab-34cd-56ef-1234567890ab\n"
     "        tags: {cost: 42}\n", "accounts[0].keys[0].tags.cost: expected a string"),
    ("accounts:\n  - id: '111122223333'\n    keys:\n      - id: 1234abcd-12ab-34cd-56ef-1234567890ab\n"
     "        enabled: 'yes please'\n", "accounts[0].keys[0].enabled: expected true or false"),
    ("accounts:\n  - id: '111122223333'\n    users:\n      - name: 'bad name!'\n",
     "accounts[0].users[0].name: "),
    ("accounts:\n  - id: '111122223333'\n    users:\n      - name: app\n        policies: {p: '{not json'}\n",
     "accounts[0].users[0].policies.p: "),
    ("accounts:\n  - id: '111122223333'\n    users:\n      - name: app\n        access_keys: [{id: short, secret: s}]\n",
     "accounts[0].users[0].access_keys[0].id: not a valid access key id"),
    ("accounts:\n  - id: '111122223333'\n    users:\n      - name: app\n"
     "        access_keys: [{id: AKIAEXAMPLEAPPUSER01}]\n", "accounts[0].users[0].access_keys[0].secret: required"),
    ("accounts:\n  - id: '111122223333'\n    users:\n      - name: app\n"
     "        access_keys: [{id: AKIAEXAMPLEAPPUSER01, secret: s, status: Paused}]\n",
     "accounts[0].users[0].access_keys[0].status: must be Active or Inactive"),
    ("accounts:\n  - id: '111122223333'\n    access_keys: [{id: AKIAEXAMPLEAPPUSER01, secret: s}]\n"
     "    users:\n      - name: app\n        access_keys: [{id: AKIAEXAMPLEAPPUSER01, secret: s}]\n",
     "accounts[0].users[0].access_keys[0].id: access key AKIAEXAMPLEAPPUSER01 is declared twice"),
    ("accounts:\n  - id: '111122223333'\n    users: [{name: app}, {name: App}]\n",
     "accounts[0].users[1].name: user App is declared twice"),
    ("accounts:\n  - id: '111122223333'\n    roles: [{name: r}]\n", "accounts[0].roles[0].trust_policy: required"),
    ("accounts:\n  - id: '111122223333'\n    roles:\n      - name: r\n"
     "        trust_policy: {Statement: [{Effect: Allow, Principal: '*', Action: 'sts:AssumeRole', Resource: '*'}]}\n",
     "accounts[0].roles[0].trust_policy: Has prohibited field Resource"),
    ("accounts:\n  - id: '111122223333'\n    roles:\n      - name: r\n        max_session_duration: 60\n"
     "        trust_policy: {Statement: [{Effect: Allow, Principal: '*', Action: 'sts:AssumeRole'}]}\n",
     "accounts[0].roles[0].max_session_duration: must be between 3600 and 43200"),
    ("accounts:\n  - id: '111122223333'\n  - id: '111122223333'\n", "accounts[1].id: account 111122223333 is declared"),
])
def test_validation_errors_name_the_place_in_the_file(text, expected):
    assert _error(text).startswith(expected) or expected in _error(text), _error(text)


def test_an_unquoted_account_id_is_accepted_and_a_missing_file_is_an_error(tmp_path):
    assert parse_seed("accounts: [{id: 111122223333}]").accounts[0].id == "111122223333"
    with pytest.raises(SeedError, match="cannot read the seed file"):
        load_seed(tmp_path / "missing.yaml")
    path = tmp_path / "seed.yaml"
    path.write_text(SEED)
    assert load_seed(path).accounts[0].id == load_seed(str(path)).accounts[0].id == ACCOUNT_ID


# --- applying ----------------------------------------------------------------------------------
def test_apply_creates_everything(store):
    report = apply_seed(store, SEED)
    assert "account 444455556666" in report.created and not report.updated
    with store.db.session() as s:
        user = s.get(IamUserTable, (ACCOUNT_ID, "app"))
        assert user.path == "/apps/"
        akid = s.get(AccessKeyTable, "AKIAEXAMPLEAPPUSER01")
        assert akid.user_name == "app" and akid.principal_arn == f"arn:aws:iam::{ACCOUNT_ID}:user/apps/app"
        assert store.root.unwrap(akid.secret_wrapped, access_key_row_identity(akid.access_key_id, ACCOUNT_ID)) \
            == b"app-secret-0123456789"
        role = s.get(IamRoleTable, (ACCOUNT_ID, "EncryptionApp"))
        assert role.max_session_duration == 7200 and role.description == "encrypts things"
        key = s.get(KeyTable, KEY_A)
        assert key.account_id == ACCOUNT_ID and key.region == "us-east-1" and key.description == "fixture key"
        assert key.key_state == "Enabled" and key.rotation_enabled and key.rotation_period_days == 180
        assert key.current_material_id and "user/apps/app" in key.policy
        other = s.get(KeyTable, KEY_B)
        assert other.region == "eu-west-1" and other.key_state == "Disabled"
        assert '"Id" : "key-default-1"' in other.policy  # the default key policy
        aliases = {a.alias_name: a.target_key_id for a in s.exec(select(AliasTable))}
        assert aliases == {"alias/app": KEY_A, "alias/app-too": KEY_A}
        assert s.get(AccessKeyTable, "AKIAEXAMPLEROOT00001").user_name is None
    # the running store sees the new key at once (caches were dropped)
    assert store.kms.key(KEY_A).key.description == "fixture key"
    assert store.kms.identities.lookup("AKIAEXAMPLEAPPUSER01")[0] == "app-secret-0123456789"


def test_reapplying_changes_nothing_and_keeps_key_material(store, tmp_path):
    path = tmp_path / "seed.yaml"
    path.write_text(SEED)
    apply_seed(store, path)
    tables = (AccountTable, AccessKeyTable, IamUserTable, IamRoleTable, IamInlinePolicyTable,
              IamPrincipalTagTable, KeyTable, KeyMaterialTable, KeyTagTable, AliasTable)
    before = {t.__tablename__: _rows(store, t) for t in tables}
    report = apply_seed(store, path)
    assert not report.changed, report
    after = {t.__tablename__: _rows(store, t) for t in tables}
    assert after == before
    assert len(before["kms_key_material"]) == 2
    assert len([r for r in before["iam_user"] if r["user_name"] == "app"]) == 1
    assert len(before["iam_inline_policy"]) == 2


def test_reapplying_brings_declared_attributes_back_and_leaves_others(store):
    apply_seed(store, SEED)
    material = _rows(store, KeyMaterialTable)
    with store.db.write() as s:  # changes made through the API, say
        key = s.get(KeyTable, KEY_A)
        key.description, key.key_state = "changed", "Disabled"
        s.add(key)
        s.add(KeyTagTable(key_id=KEY_A, tag_key="extra", tag_value="kept"))
        tag = s.get(KeyTagTable, (KEY_A, "env"))
        tag.tag_value = "prod"
        s.add(tag)
        other = s.get(KeyTable, KEY_B)
        other.description = "not declared in the file"
        s.add(other)
        alias = s.get(AliasTable, (ACCOUNT_ID, "us-east-1", "alias/app-too"))
        s.delete(alias)
        policy = s.get(IamInlinePolicyTable, (ACCOUNT_ID, "user", "app", "kms-use"))
        policy.document = json.dumps({"Version": "2012-10-17", "Statement": []})
        s.add(policy)
        akid = s.get(AccessKeyTable, "AKIAEXAMPLEAPPUSER01")
        akid.status = "Inactive"
        s.add(akid)
    store.kms.changed()
    report = apply_seed(store, SEED)
    assert not report.created
    assert any(KEY_A in line for line in report.updated) and not any(KEY_B in line for line in report.updated)
    with store.db.session() as s:
        key = s.get(KeyTable, KEY_A)
        assert key.description == "fixture key" and key.key_state == "Enabled"
        tags = {t.tag_key: t.tag_value for t in s.exec(select(KeyTagTable).where(KeyTagTable.key_id == KEY_A))}
        assert tags == {"env": "test", "extra": "kept"}
        assert s.get(KeyTable, KEY_B).description == "not declared in the file"
        assert s.get(AliasTable, (ACCOUNT_ID, "us-east-1", "alias/app-too")).target_key_id == KEY_A
        assert "kms:Encrypt" in s.get(IamInlinePolicyTable, (ACCOUNT_ID, "user", "app", "kms-use")).document
        assert s.get(AccessKeyTable, "AKIAEXAMPLEAPPUSER01").status == "Active"
    assert _rows(store, KeyMaterialTable) == material


def test_an_alias_pointing_elsewhere_is_repointed(store):
    apply_seed(store, SEED)
    key_c = "cccccccc-12ab-34cd-56ef-1234567890ab"
    moved = SEED.replace("aliases: [alias/app, alias/app-too]", "aliases: [alias/app]").replace(
        "  - id: \"444455556666\"", f"      - id: {key_c}\n        aliases: [alias/app-too]\n"
        "  - id: \"444455556666\"")
    assert parse_seed(moved).accounts[0].keys[2].id == key_c
    report = apply_seed(store, moved)
    assert any(key_c in line for line in report.created)
    with store.db.session() as s:
        assert s.get(AliasTable, (ACCOUNT_ID, "us-east-1", "alias/app-too")).target_key_id == key_c
        assert s.get(AliasTable, (ACCOUNT_ID, "us-east-1", "alias/app")).target_key_id == KEY_A


def test_a_key_id_taken_in_another_account_or_region_is_refused_and_nothing_is_written(store):
    apply_seed(store, SEED)
    before = _rows(store, AccountTable)
    moved = SEED.replace("region: eu-west-1", "region: eu-central-1")
    with pytest.raises(SeedError, match=r"accounts\[0\]\.keys\[1\]\.id: key .* already exists in account "
                                        r"111122223333 region eu-west-1"):
        apply_seed(store, moved)
    other = f"""
    accounts:
      - id: "999988887777"
        keys: [{{id: {KEY_A}}}]
    """
    with pytest.raises(SeedError, match=r"accounts\[0\]\.keys\[0\]\.id: key .* already exists in account"):
        apply_seed(store, textwrap.dedent(other))
    assert _rows(store, AccountTable) == before  # 999988887777 was rolled back


def test_an_access_key_of_another_owner_is_refused(store):
    text = f"""
    accounts:
      - id: "{ACCOUNT_ID}"
        users:
          - name: app
            access_keys: [{{id: {ACCESS_KEY_ID}, secret: x}}]
    """
    with pytest.raises(SeedError, match=r"accounts\[0\]\.users\[0\]\.access_keys\[0\]\.id: access key "
                                        r".* already exists for the root user of account 111122223333"):
        apply_seed(store, textwrap.dedent(text))
    with store.db.session() as s:
        assert s.get(IamUserTable, (ACCOUNT_ID, "app")) is None


def test_a_key_policy_naming_an_unknown_user_is_refused(store):
    text = SEED.replace("user/apps/app", "user/apps/nobody")
    with pytest.raises(SeedError, match=r"accounts\[0\]\.keys\[0\]\.policy: Policy contains a statement with one "
                                        r"or more invalid principals"):
        apply_seed(store, text)


def test_too_many_root_access_keys_is_refused(store):
    text = f"""
    accounts:
      - id: "{ACCOUNT_ID}"
        access_keys:
          - {{id: AKIAEXAMPLEROOT00002, secret: a}}
          - {{id: AKIAEXAMPLEROOT00003, secret: b}}
    """
    with pytest.raises(SeedError, match=r"accounts\[0\]\.access_keys\[1\]: Cannot exceed quota"):
        apply_seed(store, textwrap.dedent(text))


def test_open_store_applies_the_seed_file_or_refuses_to_start(tmp_path, monkeypatch):
    for name in ("PARAMSTORE_ROOT_KEY", "PARAMSTORE_DATABASE_URL", "PARAMSTORE_SEED_FILE"):
        monkeypatch.delenv(name, raising=False)
    good = tmp_path / "good.yaml"
    good.write_text(SEED)
    opened = open_store(_settings(tmp_path / "data", seed_file=good))
    try:
        assert opened.kms.key(KEY_A) is not None
    finally:
        opened.db.dispose()
    bad = tmp_path / "bad.yaml"
    bad.write_text(SEED.replace(KEY_B, "bogus"))
    with pytest.raises(StartupError, match=rf"seed file {bad}: accounts\[0\]\.keys\[1\]\.id: not a valid key id"):
        open_store(_settings(tmp_path / "data", seed_file=bad))
    monkeypatch.setenv("PARAMSTORE_SEED_FILE", str(good))
    assert Settings().seed_file == good
