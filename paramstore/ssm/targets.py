"""The SSM dispatch table: "AmazonSSM.<Operation>" -> operation function."""

from __future__ import annotations

from typing import Any, Callable, Optional

from kms_core.protocol.awsjson import ServiceSpec
from kms_core.protocol.throttling import SSM_READ_OPERATIONS, SSM_STANDARD_READS
from paramstore.ssm.context import SsmContext
from paramstore.ssm.errors import InternalServerError
from paramstore.ssm.operations import labels, listing, parameters, settings, tags
from paramstore.ssm_model import OPERATIONS as SSM_SHAPES

TARGET_PREFIX = "AmazonSSM"

HANDLERS: dict[str, Callable[[SsmContext, dict], dict]] = {
    "PutParameter": parameters.put_parameter,
    "GetParameter": parameters.get_parameter,
    "GetParameters": parameters.get_parameters,
    "GetParameterHistory": parameters.get_parameter_history,
    "DeleteParameter": parameters.delete_parameter,
    "DeleteParameters": parameters.delete_parameters,
    "GetParametersByPath": listing.get_parameters_by_path,
    "DescribeParameters": listing.describe_parameters,
    "LabelParameterVersion": labels.label_parameter_version,
    "UnlabelParameterVersion": labels.unlabel_parameter_version,
    "AddTagsToResource": tags.add_tags_to_resource,
    "RemoveTagsFromResource": tags.remove_tags_from_resource,
    "ListTagsForResource": tags.list_tags_for_resource,
    "GetServiceSetting": settings.get_service_setting,
    "UpdateServiceSetting": settings.update_service_setting,
    "ResetServiceSetting": settings.reset_service_setting,
}


def ssm_service(make_context: Callable[..., Any]) -> ServiceSpec:
    # InternalServerError (500) is what the SDKs retry for SSM; it has no timeout error of its own
    spec = ServiceSpec(TARGET_PREFIX, "ssm", "ssm.amazonaws.com", InternalServerError, make_context,
                       timeout_error=InternalServerError,
                       inline_operations=frozenset({"GetParameter", "GetParameters"}))
    for name, handler in HANDLERS.items():
        spec.add(name, handler, SSM_SHAPES[name])
    return spec


HIGH_THROUGHPUT = "/ssm/parameter-store/high-throughput-enabled"


def ssm_quota_of(params: Any) -> Callable[[str, str, str, dict], Optional[str]]:
    """The request quota of an SSM operation: reads share one at standard throughput and
    have one each when the account turned high throughput on (a cached setting: no query)."""

    def quota_of(operation: str, account_id: str, region: str, _request: dict) -> Optional[str]:
        if operation in SSM_READ_OPERATIONS and params.setting(account_id, region, HIGH_THROUGHPUT) != "true":
            return SSM_STANDARD_READS
        return "ssm:" + operation

    return quota_of
