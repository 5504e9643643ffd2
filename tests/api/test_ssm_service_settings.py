"""Parameter Store service settings: the default tier and the high-throughput switch."""

from __future__ import annotations

from tests.conftest import ACCOUNT_ID
from tests.helpers import expect_error

TIER = "/ssm/parameter-store/default-parameter-tier"


def test_default_tier_setting_applies_to_new_parameters_and_resets(server, base):
    ssm = server.client("ssm", region="ca-central-1")  # its own region: the setting is per account and region
    got = ssm.get_service_setting(SettingId=TIER)["ServiceSetting"]
    assert got["SettingValue"] == "Standard" and got["Status"] == "Default"
    assert got["ARN"] == f"arn:aws:ssm:ca-central-1:{ACCOUNT_ID}:servicesetting{TIER}"
    ssm.update_service_setting(SettingId=TIER, SettingValue="Advanced")
    got = ssm.get_service_setting(SettingId=got["ARN"])["ServiceSetting"]  # by ARN too
    assert got["SettingValue"] == "Advanced" and got["Status"] == "Customized"
    assert ssm.put_parameter(Name=f"{base}/adv", Value="v", Type="String")["Tier"] == "Advanced"
    reset = ssm.reset_service_setting(SettingId=TIER)["ServiceSetting"]
    assert reset["SettingValue"] == "Standard" and reset["Status"] == "Default"
    assert ssm.put_parameter(Name=f"{base}/std", Value="v", Type="String")["Tier"] == "Standard"


def test_bad_setting_values_and_ids(server):
    ssm = server.client("ssm", region="ca-central-1")
    expect_error(lambda: ssm.update_service_setting(SettingId=TIER, SettingValue="Premium"), "ValidationException")
    expect_error(lambda: ssm.get_service_setting(SettingId="/ssm/no/such/setting"), "ServiceSettingNotFound")
    ssm.update_service_setting(SettingId="/ssm/parameter-store/high-throughput-enabled", SettingValue="true")
    assert ssm.get_service_setting(SettingId="/ssm/parameter-store/high-throughput-enabled")[
        "ServiceSetting"]["SettingValue"] == "true"
    ssm.reset_service_setting(SettingId="/ssm/parameter-store/high-throughput-enabled")
