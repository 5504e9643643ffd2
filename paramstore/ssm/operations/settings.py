"""Parameter Store service settings: GetServiceSetting, UpdateServiceSetting,
ResetServiceSetting for the default parameter tier and the high-throughput switch."""

from __future__ import annotations

from paramstore.ssm.context import SsmContext
from paramstore.ssm.errors import ServiceSettingNotFound, ValidationException
from paramstore.ssm.storage.tables import ServiceSettingTable
from paramstore.ssm.operations._common import authorize_ssm

DEFAULTS = {
    "/ssm/parameter-store/default-parameter-tier": ("Standard", ("Standard", "Advanced", "Intelligent-Tiering")),
    "/ssm/parameter-store/high-throughput-enabled": ("false", ("true", "false")),
}


def get_service_setting(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetServiceSetting.html"""
    setting_id, arn = _setting(ctx, req["SettingId"], "ssm:GetServiceSetting")
    return {"ServiceSetting": _shape(ctx, setting_id, arn)}


def update_service_setting(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_UpdateServiceSetting.html"""
    setting_id, _ = _setting(ctx, req["SettingId"], "ssm:UpdateServiceSetting")
    value = req["SettingValue"]
    if value not in DEFAULTS[setting_id][1]:
        raise ValidationException(f"The value {value[:64]} is not valid for {setting_id}. Valid values: "
                                  f"{', '.join(DEFAULTS[setting_id][1])}.")
    with ctx.ssm.write() as session:
        row = session.get(ServiceSettingTable, (ctx.account_id, ctx.region, setting_id)) or ServiceSettingTable(
            account_id=ctx.account_id, region=ctx.region, setting_id=setting_id)
        row.value, row.last_modified_date, row.last_modified_user = value, ctx.now(), ctx.principal.arn
        session.add(row)
    return {}


def reset_service_setting(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ResetServiceSetting.html"""
    setting_id, arn = _setting(ctx, req["SettingId"], "ssm:ResetServiceSetting")
    with ctx.ssm.write() as session:
        row = session.get(ServiceSettingTable, (ctx.account_id, ctx.region, setting_id))
        if row is not None:
            session.delete(row)
    return {"ServiceSetting": _shape(ctx, setting_id, arn)}


def _setting(ctx: SsmContext, raw: str, action: str) -> tuple[str, str]:
    prefix = f"arn:aws:ssm:{ctx.region}:{ctx.account_id}:servicesetting"
    setting_id = raw[len(prefix):] if raw.startswith(prefix) else raw
    if setting_id not in DEFAULTS:
        raise ServiceSettingNotFound(f"The service setting {raw} was not found.")
    arn = prefix + setting_id
    authorize_ssm(ctx, action, arn)
    return setting_id, arn


def _shape(ctx: SsmContext, setting_id: str, arn: str) -> dict:
    row = ctx.ssm.setting_row(ctx.account_id, ctx.region, setting_id)
    shape = {"SettingId": setting_id, "ARN": arn, "Status": "Customized" if row else "Default",
             "SettingValue": row.value if row else DEFAULTS[setting_id][0]}
    if row is not None:
        shape["LastModifiedDate"] = row.last_modified_date
        shape["LastModifiedUser"] = row.last_modified_user
    return shape
