"""The Secrets Manager error classes are exactly botocore's error shapes, with AWS's
status codes and message field."""

from __future__ import annotations

import botocore.session

from paramstore.secrets import errors
from paramstore.secrets.errors import SecretsError


def test_every_error_shape_of_the_model_has_its_class_and_no_other():
    model = botocore.session.get_session().get_service_model("secretsmanager")
    defined = {name for name, value in vars(errors).items()
               if isinstance(value, type) and issubclass(value, SecretsError) and value is not SecretsError}
    assert defined == {shape.name for shape in model.error_shapes}
    for name in defined:
        error = getattr(errors, name)
        assert error.code == name and error.message_field == "Message"
        assert error.http_status == (500 if name == "InternalServiceError" else 400)


def test_get_random_password_is_in_the_generated_shapes():
    from paramstore.secrets_model import OPERATIONS

    assert OPERATIONS["GetRandomPassword"]["members"]["PasswordLength"] == {"max": 4096, "min": 1, "type": "long"}
