"""GetRandomPassword: a password from the operating system's CSPRNG (`secrets`), drawn
from the character types the request leaves in, with at least one of each by default."""

from __future__ import annotations

import secrets
import string

from kms_core.port import ServiceRequest, authorize_account
from paramstore.secrets.errors import InvalidParameterException

#: the character types, in the order AWS's documentation lists them
_LOWERCASE, _UPPERCASE, _DIGITS = string.ascii_lowercase, string.ascii_uppercase, string.digits
_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
DEFAULT_LENGTH = 32
#: draws before building a password type by type (bounds the work a request can ask for)
_DRAWS = 8


def get_random_password(ctx: ServiceRequest, req: dict) -> dict:
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetRandomPassword.html"""
    authorize_account(ctx, "secretsmanager:GetRandomPassword")
    return {"RandomPassword": random_password(
        req.get("PasswordLength", DEFAULT_LENGTH), req.get("ExcludeCharacters", ""),
        exclude_numbers=req.get("ExcludeNumbers", False), exclude_punctuation=req.get("ExcludePunctuation", False),
        exclude_uppercase=req.get("ExcludeUppercase", False), exclude_lowercase=req.get("ExcludeLowercase", False),
        include_space=req.get("IncludeSpace", False), require_each_type=req.get("RequireEachIncludedType", True))}


def random_password(length: int, exclude: str = "", *, exclude_numbers: bool = False,
                    exclude_punctuation: bool = False, exclude_uppercase: bool = False,
                    exclude_lowercase: bool = False, include_space: bool = False,
                    require_each_type: bool = True) -> str:
    """Also the built-in rotation generator's password (one function, one policy)."""
    excluded = set(exclude)
    wanted = [(_LOWERCASE, exclude_lowercase), (_UPPERCASE, exclude_uppercase), (_DIGITS, exclude_numbers),
              (_PUNCTUATION, exclude_punctuation), (" ", not include_space)]
    types = [chars for chars in ("".join(c for c in group if c not in excluded) for group, off in wanted if not off)
             if chars]
    if not types:
        raise InvalidParameterException("The password has no characters to choose from: every character type "
                                        "is excluded.")
    if require_each_type and length < len(types):
        raise InvalidParameterException("Password length is too short based on the required types.")
    alphabet = "".join(types)
    for _ in range(_DRAWS):  # uniform over the passwords that qualify: draw until one does...
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        if not require_each_type or all(any(c in chars for c in password) for chars in types):
            return password
    # ...a few times: a request whose types are tiny (one digit left of ten) would otherwise
    # draw thousands of times; then one of each type at random places, the rest from all
    chosen = [secrets.choice(chars) for chars in types] + [secrets.choice(alphabet)
                                                           for _ in range(length - len(types))]
    secrets.SystemRandom().shuffle(chosen)
    return "".join(chosen)
