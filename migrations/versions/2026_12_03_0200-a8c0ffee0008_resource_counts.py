"""`ps_resource_count`: quotas from counters, not count(*).

Creating a parameter counted the account's parameters of its tier, and creating a key the
account's customer-managed keys: a scan that grows with the store (100,000 advanced
parameters per account and Region is AWS's quota).  Triggers on `ssm_parameter` and
`kms_key` now keep a count per (account, Region, resource) in the same transaction as the
row they count, so every write path (the API, the seed file, the sweeper, bulk fills) keeps
it right, and a quota check reads one row.  On PostgreSQL the counter row's lock
serialises creators in one account and Region until they commit, which is what makes the
check exact.

Revision ID: a8c0ffee0008
Revises: a7c0ffee0007
Create Date: 2026-12-03 02:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = "a8c0ffee0008"
down_revision = "a7c0ffee0007"
branch_labels = None
depends_on = None

_BUMP = ("INSERT INTO ps_resource_count (account_id, region, resource, count) VALUES ({account}, {region}, "
         "{resource}, 1) ON CONFLICT (account_id, region, resource) DO UPDATE SET count = ps_resource_count.count + 1")
_DROP = ("UPDATE ps_resource_count SET count = count - 1 "
         "WHERE account_id = {account} AND region = {region} AND resource = {resource}")


def _bump(row: str, resource: str) -> str:
    return _BUMP.format(account=f"{row}.account_id", region=f"{row}.region", resource=resource)


def _drop(row: str, resource: str) -> str:
    return _DROP.format(account=f"{row}.account_id", region=f"{row}.region", resource=resource)


_SQLITE_TRIGGERS = [
    "CREATE TRIGGER ps_count_parameter_insert AFTER INSERT ON ssm_parameter BEGIN "
    f"{_bump('NEW', chr(39) + 'ssm:' + chr(39) + ' || NEW.tier')}; END",
    "CREATE TRIGGER ps_count_parameter_delete AFTER DELETE ON ssm_parameter BEGIN "
    f"{_drop('OLD', chr(39) + 'ssm:' + chr(39) + ' || OLD.tier')}; END",
    "CREATE TRIGGER ps_count_parameter_tier AFTER UPDATE OF tier ON ssm_parameter WHEN OLD.tier <> NEW.tier BEGIN "
    f"{_drop('OLD', chr(39) + 'ssm:' + chr(39) + ' || OLD.tier')}; "
    f"{_bump('NEW', chr(39) + 'ssm:' + chr(39) + ' || NEW.tier')}; END",
    "CREATE TRIGGER ps_count_key_insert AFTER INSERT ON kms_key WHEN NEW.key_manager = 'CUSTOMER' BEGIN "
    f"{_bump('NEW', chr(39) + 'kms:CustomerKey' + chr(39))}; END",
    "CREATE TRIGGER ps_count_key_delete AFTER DELETE ON kms_key WHEN OLD.key_manager = 'CUSTOMER' BEGIN "
    f"{_drop('OLD', chr(39) + 'kms:CustomerKey' + chr(39))}; END",
]

_PG_FUNCTIONS = {
    "ps_count_parameter": f"""
CREATE FUNCTION ps_count_parameter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    {_drop('OLD', "'ssm:' || OLD.tier")};
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    {_bump('NEW', "'ssm:' || NEW.tier")};
  END IF;
  RETURN NULL;
END $$""",
    "ps_count_key": f"""
CREATE FUNCTION ps_count_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    {_drop('OLD', "'kms:CustomerKey'")};
  ELSE
    {_bump('NEW', "'kms:CustomerKey'")};
  END IF;
  RETURN NULL;
END $$""",
}
_PG_TRIGGERS = [
    "CREATE TRIGGER ps_count_parameter_rows AFTER INSERT OR DELETE ON ssm_parameter "
    "FOR EACH ROW EXECUTE FUNCTION ps_count_parameter()",
    "CREATE TRIGGER ps_count_parameter_tier AFTER UPDATE OF tier ON ssm_parameter "
    "FOR EACH ROW WHEN (OLD.tier <> NEW.tier) EXECUTE FUNCTION ps_count_parameter()",
    "CREATE TRIGGER ps_count_key_insert AFTER INSERT ON kms_key "
    "FOR EACH ROW WHEN (NEW.key_manager = 'CUSTOMER') EXECUTE FUNCTION ps_count_key()",
    "CREATE TRIGGER ps_count_key_delete AFTER DELETE ON kms_key "
    "FOR EACH ROW WHEN (OLD.key_manager = 'CUSTOMER') EXECUTE FUNCTION ps_count_key()",
]
_TRIGGER_TABLES = {
    "ps_count_parameter_rows": "ssm_parameter",  # PostgreSQL: insert and delete in one
    "ps_count_parameter_insert": "ssm_parameter",
    "ps_count_parameter_delete": "ssm_parameter",
    "ps_count_parameter_tier": "ssm_parameter",
    "ps_count_key_insert": "kms_key",
    "ps_count_key_delete": "kms_key",
}


def upgrade() -> None:
    op.create_table(
        "ps_resource_count",
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("resource", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "region", "resource", name="pk_ps_resource_count"),
    )
    op.execute("INSERT INTO ps_resource_count (account_id, region, resource, count) "
               "SELECT account_id, region, 'ssm:' || tier, count(*) FROM ssm_parameter "
               "GROUP BY account_id, region, tier")
    op.execute("INSERT INTO ps_resource_count (account_id, region, resource, count) "
               "SELECT account_id, region, 'kms:CustomerKey', count(*) FROM kms_key WHERE key_manager = 'CUSTOMER' "
               "GROUP BY account_id, region")
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _PG_FUNCTIONS.values():
            op.execute(statement)
        for statement in _PG_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for trigger, table in _TRIGGER_TABLES.items():
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + ("" if sqlite else f" ON {table}"))
    if not sqlite:
        for function in _PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.drop_table("ps_resource_count")
