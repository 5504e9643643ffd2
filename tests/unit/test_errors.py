"""kms_core.errors against the KMS model's error list, and the errors operations raise."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from kms_core import errors
from kms_core.domain import errors as protocol_errors
from kms_core.domain.errors import AwsError
from kms_core.protocol.kms_model import ERROR_CODES

#: Not a KMS model shape, but what AWS answers for writes to reserved `alias/aws/` names.
NOT_IN_MODEL = {"NotAuthorizedException"}
#: HTTP status per the model; everything else is a 400 client fault.
STATUS = {"KMSInternalException": 500, "DependencyTimeoutException": 503}

DEFINED = sorted(name for name in ERROR_CODES if hasattr(errors, name))
KMS_ERROR_CLASSES = sorted(
    name for name, obj in vars(errors).items()
    if isinstance(obj, type) and issubclass(obj, errors.KmsError) and obj is not errors.KmsError)
OPERATIONS_DIR = Path(errors.__file__).parent / "operations"


def test_the_model_list_and_the_module_overlap():
    assert len(ERROR_CODES) > 30
    assert len(DEFINED) >= 20
    for name in ("NotFoundException", "InvalidCiphertextException", "KMSInvalidStateException",
                 "KMSInternalException", "DisabledException", "DependencyTimeoutException"):
        assert name in DEFINED


@pytest.mark.parametrize("name", DEFINED)
def test_code_equals_class_name(name):
    cls = getattr(errors, name)
    assert issubclass(cls, AwsError)
    assert cls.code == name
    assert cls.__name__ == name
    instance = cls("message")
    assert instance.code == name and instance.message == "message"


@pytest.mark.parametrize("name", DEFINED)
def test_http_status(name):
    assert getattr(errors, name).http_status == STATUS.get(name, 400)


def test_kms_internal_exception_is_500():
    assert errors.KMSInternalException.http_status == 500
    assert errors.NotFoundException.http_status == 400


@pytest.mark.parametrize("name", KMS_ERROR_CLASSES)
def test_every_kms_error_class_is_in_the_model(name):
    """A misspelt code would reach SDKs as an unknown error; only the documented exception is allowed."""
    assert name in ERROR_CODES or name in NOT_IN_MODEL


def test_not_authorized_is_the_documented_exception():
    assert "NotAuthorizedException" not in ERROR_CODES
    assert errors.NotAuthorizedException.code == "NotAuthorizedException"
    assert errors.NotAuthorizedException.http_status == 400


def _names_used_by_operations() -> dict[str, set[str]]:
    """Every name imported from kms_core.errors in kms_core/operations, with the files using it."""
    used: dict[str, set[str]] = {}
    for path in sorted(OPERATIONS_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "kms_core.errors":
                for alias in node.names:
                    used.setdefault(alias.name, set()).add(path.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "errors" and node.attr.endswith("Exception"):
                used.setdefault(node.attr, set()).add(path.name)
    return used


USED = _names_used_by_operations()


def test_operations_use_kms_errors():
    assert len(USED) >= 5
    assert "NotFoundException" in USED


@pytest.mark.parametrize("name", sorted(USED))
def test_error_used_by_operations_exists_and_is_in_the_model(name):
    assert hasattr(errors, name), f"{name} (used in {sorted(USED[name])}) is not defined in kms_core.errors"
    cls = getattr(errors, name)
    if not (isinstance(cls, type) and issubclass(cls, AwsError)):
        pytest.fail(f"{name} imported from kms_core.errors is not an AwsError")
    if issubclass(cls, errors.KmsError):
        assert name in ERROR_CODES or name in NOT_IN_MODEL, f"{name} is not a KMS model error"
    else:
        # a protocol-wide error re-exported from kms_core.domain.errors (ValidationException, ...)
        assert cls.__module__ == "kms_core.domain.errors"


_EXCEPTION_NAME = re.compile(r"\b[A-Z][A-Za-z]+Exception\b")
_PYTHON_BUILTINS = {"BaseException"}


def _exception_names_in(directory: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(directory.rglob("*.py")):
        for name in _EXCEPTION_NAME.findall(path.read_text(encoding="utf-8")):
            found.setdefault(name, set()).add(str(path.relative_to(directory.parent)))
    return found


def test_every_exception_name_in_kms_core_is_a_known_code():
    """Catches a code raised anywhere (operations, domain, engine) that AWS doesn't define."""
    known = set(ERROR_CODES) | NOT_IN_MODEL | _PYTHON_BUILTINS | {
        name for name, obj in vars(protocol_errors).items() if isinstance(obj, type) and issubclass(obj, AwsError)}
    found = _exception_names_in(OPERATIONS_DIR.parent)
    assert "NotFoundException" in found
    unknown = {name: sorted(files) for name, files in found.items() if name not in known}
    assert not unknown
