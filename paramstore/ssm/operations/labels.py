"""Version labels: LabelParameterVersion, UnlabelParameterVersion.

A label sits on one version of a parameter at a time (labelling another version moves
it), a version carries at most 10, and invalid labels are reported, not raised."""

from __future__ import annotations

from paramstore.ssm.context import SsmContext
from paramstore.ssm.storage.repository import Txn
from paramstore.ssm.errors import ParameterVersionLabelLimitExceeded, ParameterVersionNotFound
from paramstore.ssm.names import canonical_of, check_name_syntax, is_valid_label
from paramstore.ssm.operations._common import arn_of, authorize_ssm, not_found
from paramstore.ssm.storage import repository

MAX_LABELS_PER_VERSION = 10


def label_parameter_version(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_LabelParameterVersion.html"""
    name, labels = req["Name"], list(dict.fromkeys(req["Labels"]))
    param_id, version = _locate(ctx, name, "ssm:LabelParameterVersion", req.get("ParameterVersion"))
    valid = [label for label in labels if is_valid_label(label)]
    invalid = [label for label in labels if not is_valid_label(label)]
    with ctx.ssm.write() as session:
        version = _check_version(session, ctx, name, param_id, version)
        for label in valid:
            repository.put_label(session, param_id, label, version)
        if repository.labels_on_version(session, param_id, version) > MAX_LABELS_PER_VERSION:
            raise ParameterVersionLabelLimitExceeded(
                "A parameter version can have maximum 10 labels.Move one or more labels to another version and try "
                "again.")
    return {"InvalidLabels": invalid, "ParameterVersion": version}


def unlabel_parameter_version(ctx: SsmContext, req: dict) -> dict:
    """https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_UnlabelParameterVersion.html"""
    name, labels = req["Name"], list(dict.fromkeys(req["Labels"]))
    param_id, version = _locate(ctx, name, "ssm:UnlabelParameterVersion", req["ParameterVersion"])
    removed, invalid = [], []
    with ctx.ssm.write() as session:
        version = _check_version(session, ctx, name, param_id, version)
        for label in labels:
            (removed if repository.remove_label(session, param_id, label, version) else invalid).append(label)
    return {"RemovedLabels": removed, "InvalidLabels": invalid}


def _locate(ctx: SsmContext, name: str, action: str, version: int | None) -> tuple[int, int | None]:
    check_name_syntax(name)
    canonical = canonical_of(name)
    authorize_ssm(ctx, action, arn_of(ctx, canonical))
    param = ctx.ssm.parameter(ctx.account_id, ctx.region, canonical)
    if param is None:
        raise not_found(name)
    return param.id, version


def _check_version(session: Txn, ctx: SsmContext, name: str, param_id: int, version: int | None) -> int:
    """Inside the transaction: the parameter still exists and has that version."""
    param = repository.parameter_by_id(session, param_id)
    if param is None:
        raise not_found(name)
    if version is None:
        return param.version
    if not repository.has_version(session, param_id, version):
        raise ParameterVersionNotFound(
            f"Systems Manager could not find version {version} of {name}. Verify the version and try again.")
    return version
