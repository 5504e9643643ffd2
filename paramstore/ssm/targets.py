"""The SSM dispatch table: "AmazonSSM.<Operation>" -> operation function."""

from __future__ import annotations

from typing import Any, Callable

from kms_core.protocol.awsjson import ServiceSpec
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
