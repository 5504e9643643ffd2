"""A root version held in a PKCS#11 token (an HSM, or SoftHSM2 for tests).

The key is an AES-256 secret key object generated inside the token, sensitive and not
extractable; the token itself seals and opens with CKM_AES_GCM (a fresh 96-bit IV each
time, the row's AAD, a 128-bit tag), so the key never enters this process.

Configuration (docs/operations.md): an RFC 7512 URI naming the token and the key object,

    pkcs11:token=paramstore;object=paramstore-root-1?module-path=/usr/lib/softhsm/libsofthsm2.so

the module from `module-path` or PARAMSTORE_PKCS11_MODULE, and the user PIN from
PARAMSTORE_PKCS11_PIN, the file PARAMSTORE_PKCS11_PIN_FILE names, or the URI's
`pin-source=file:...`; never from the command line, and a `pin-value` in the URI is
refused.

Only cache fills reach the token (every unwrapped key is cached in memory), so its speed
matters little to the hot path.  If the token goes away while serving, a call fails with
`RootUnavailable` (the request gets KMSInternalException, readiness says why) and the next
call opens a new session, so the server recovers by itself when the token is back.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional
from urllib.parse import unquote

from kms_core.crypto.aes_gcm import IV_BYTES, DecryptionFailed
from kms_core.crypto.root import RootKeyError

PIN_ENV = "PARAMSTORE_PKCS11_PIN"
PIN_FILE_ENV = "PARAMSTORE_PKCS11_PIN_FILE"
MODULE_ENV = "PARAMSTORE_PKCS11_MODULE"
#: a new store's root (paramstore/settings.py); its module-path is this process's configuration too
NEW_STORE_URI_ENV = "PARAMSTORE_ROOT_KEY_URI"
_TAG_BITS = 128


class RootUnavailable(RootKeyError):
    """The token cannot be reached now (removed, logged out, its module failing)."""


@dataclass(frozen=True)
class Pkcs11Uri:
    """The parts of an RFC 7512 URI this provider uses."""

    text: str
    token: Optional[str]
    object: str
    serial: Optional[str] = None
    module_path: Optional[str] = None
    pin_source: Optional[str] = None

    @classmethod
    def parse(cls, text: str) -> "Pkcs11Uri":
        if not text.startswith("pkcs11:"):
            raise RootKeyError(f"not a pkcs11: URI: {text!r}")
        path, _, query = text[len("pkcs11:"):].partition("?")
        attrs = _pairs(path, ";")
        params = _pairs(query, "&")
        if "pin-value" in params:
            raise RootKeyError("a PIN in the pkcs11: URI is refused; use PARAMSTORE_PKCS11_PIN or "
                               "PARAMSTORE_PKCS11_PIN_FILE")
        if not attrs.get("object"):
            raise RootKeyError(f"the pkcs11: URI must name the key: object=<label> ({text!r})")
        if not attrs.get("token") and not attrs.get("serial"):
            raise RootKeyError(f"the pkcs11: URI must name the token: token=<label> ({text!r})")
        return cls(text, attrs.get("token"), attrs["object"], attrs.get("serial"),
                   params.get("module-path"), params.get("pin-source"))

    def untrusted(self) -> "Pkcs11Uri":
        """This URI as read back from the database: its module path and PIN source are
        dropped.  Whoever can write the database must not choose a library this process
        loads, or a file it reads; those come from this process's own configuration."""
        return Pkcs11Uri(self.text.split("?")[0], self.token, self.object, self.serial)

    def module(self, environ: Optional[dict[str, str]] = None) -> str:
        env = os.environ if environ is None else environ
        configured = env.get(NEW_STORE_URI_ENV, "")
        module = (self.module_path or env.get(MODULE_ENV)
                  or (Pkcs11Uri.parse(configured).module_path if configured.startswith("pkcs11:") else None))
        if not module:
            raise RootKeyError(f"no PKCS#11 module: set {MODULE_ENV} (or add ?module-path=... to the URI)")
        return module

    def pin(self, environ: Optional[dict[str, str]] = None) -> str:
        env = os.environ if environ is None else environ
        if env.get(PIN_ENV):
            return env[PIN_ENV]
        pin_file = env.get(PIN_FILE_ENV)
        if not pin_file and self.pin_source:
            pin_file = self.pin_source[len("file:"):] if self.pin_source.startswith("file:") else self.pin_source
        if not pin_file:
            raise RootKeyError(f"no PIN for the PKCS#11 token: set {PIN_ENV} or {PIN_FILE_ENV}")
        try:
            return Path(pin_file).read_text().strip()
        except OSError as exc:
            raise RootKeyError(f"cannot read the PKCS#11 PIN file {pin_file}: {exc.strerror}") from None


def _pairs(text: str, sep: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, text.split(sep)):
        name, _, value = part.partition("=")
        out[unquote(name)] = unquote(value)
    return out


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:  # pragma: no cover - the package is a dependency
        raise RootKeyError("the python-pkcs11 package is not installed") from None
    return pkcs11


class Pkcs11Root:
    """A root version whose key is an object in a PKCS#11 token."""

    def __init__(self, uri: Pkcs11Uri, environ: Optional[dict[str, str]] = None) -> None:
        self.uri = uri
        self.source = uri.text.split("?")[0]
        self._module = uri.module(environ)
        self._pin = uri.pin(environ)
        self._lock = threading.Lock()
        self._session: Any = None
        self._key: Any = None
        self._connect()

    def _connect(self, reinitialize: bool = False) -> None:
        """Open a session and find the key.  `reinitialize`: restart the module first (a
        token that went away and came back is only seen again after C_Initialize)."""
        pkcs11 = _pkcs11()
        from pkcs11 import exceptions as px

        try:
            lib = pkcs11.lib(self._module)
            if reinitialize:
                lib.reinitialize()
        except Exception as exc:
            raise RootKeyError(f"cannot load the PKCS#11 module {self._module}: {exc}") from None
        try:
            token = lib.get_token(token_label=self.uri.token, token_serial=self.uri.serial.encode()
                                  if self.uri.serial else None)
        except (px.NoSuchToken, px.MultipleTokensReturned):
            raise RootKeyError(f"no PKCS#11 token {self.uri.token or self.uri.serial!r} in {self._module}") from None
        try:
            session = token.open(user_pin=self._pin)
        except px.UserAlreadyLoggedIn:
            session = token.open()  # this process is logged in already (another version's key)
        except (px.PinIncorrect, px.PinInvalid, px.PinLenRange):
            raise RootKeyError(f"the PIN for PKCS#11 token {self.uri.token!r} is wrong") from None
        except px.PKCS11Error as exc:
            raise RootKeyError(f"cannot log in to PKCS#11 token {self.uri.token!r}: {type(exc).__name__}") from None
        try:
            key = session.get_key(object_class=pkcs11.ObjectClass.SECRET_KEY, label=self.uri.object)
        except px.NoSuchKey:
            session.close()
            raise RootKeyError(f"no key {self.uri.object!r} in PKCS#11 token {self.uri.token!r} "
                               "(make one with `paramstore admin init-hsm`)") from None
        except px.MultipleObjectsReturned:
            session.close()
            raise RootKeyError(f"several keys labelled {self.uri.object!r} in token {self.uri.token!r}") from None
        self._session, self._key = session, key

    def _call(self, operation: str, data: bytes, iv: bytes, aad: bytes) -> bytes:
        from pkcs11 import Mechanism
        from pkcs11 import exceptions as px
        from pkcs11.mechanisms import GCMParams

        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._key is None:
                        self._connect(reinitialize=attempt == 2)
                    result: bytes = getattr(self._key, operation)(data, mechanism=Mechanism.AES_GCM,
                                                                  mechanism_param=GCMParams(iv, aad, _TAG_BITS))
                    return result
                except (px.PKCS11Error, RootKeyError) as exc:
                    if operation == "decrypt" and self._bad_data(exc):
                        raise DecryptionFailed() from None
                    self._session = self._key = None
                    if attempt == 2:
                        raise RootUnavailable(f"PKCS#11 token {self.uri.token!r} is unavailable: "
                                              f"{type(exc).__name__}") from None
        raise AssertionError("unreachable")

    def _bad_data(self, exc: Exception) -> bool:
        """Whether a failed decrypt was the data (a wrong tag, AAD or length), not the token:
        tokens say so with different codes (SoftHSM2: CKR_GENERAL_ERROR), so ask the
        session whether it still answers."""
        from pkcs11 import exceptions as px

        if isinstance(exc, (px.EncryptedDataInvalid, px.EncryptedDataLenRange)):
            return True
        return isinstance(exc, px.GeneralError) and self._alive()

    def _alive(self) -> bool:
        """Whether the session still answers (a failed decrypt was the data, not the token)."""
        try:
            return self._key is not None and self._key.label == self.uri.object
        except Exception:
            return False

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        iv = os.urandom(IV_BYTES)
        return iv + self._call("encrypt", plaintext, iv, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < IV_BYTES + _TAG_BITS // 8:
            raise DecryptionFailed()
        return self._call("decrypt", sealed[IV_BYTES:], sealed[:IV_BYTES], aad)

    def key_attributes(self) -> dict[str, bool]:
        """The key object's protection flags (init-hsm prints them; tests check them)."""
        from pkcs11 import Attribute

        with self._lock:
            return {"sensitive": bool(self._key[Attribute.SENSITIVE]),
                    "extractable": bool(self._key[Attribute.EXTRACTABLE]),
                    "token": bool(self._key[Attribute.TOKEN])}

    def __repr__(self) -> str:
        return f"Pkcs11Root({self.source!r})"


def init_hsm_key(uri: Pkcs11Uri, environ: Optional[dict[str, str]] = None) -> None:
    """Generate the root AES-256 key inside the token: persistent, sensitive, never
    extractable, usable only to encrypt and decrypt.  An existing label is refused."""
    pkcs11 = _pkcs11()
    from pkcs11 import Attribute, KeyType
    from pkcs11 import exceptions as px

    module, pin = uri.module(environ), uri.pin(environ)
    try:
        token = pkcs11.lib(module).get_token(token_label=uri.token)
    except px.NoSuchToken:
        raise RootKeyError(f"no PKCS#11 token {uri.token!r} in {module}") from None
    except Exception as exc:
        raise RootKeyError(f"cannot load the PKCS#11 module {module}: {exc}") from None
    try:
        session = token.open(user_pin=pin, rw=True)
    except (px.PinIncorrect, px.PinInvalid, px.PinLenRange):
        raise RootKeyError(f"the PIN for PKCS#11 token {uri.token!r} is wrong") from None
    with session:
        if list(session.get_objects({Attribute.LABEL: uri.object})):
            raise RootKeyError(f"token {uri.token!r} already holds an object labelled {uri.object!r}")
        session.generate_key(KeyType.AES, 256, label=uri.object, store=True, template={
            Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, Attribute.ENCRYPT: True,
            Attribute.DECRYPT: True, Attribute.WRAP: False, Attribute.UNWRAP: False,
            Attribute.SIGN: False, Attribute.VERIFY: False, Attribute.DERIVE: False,
            Attribute.PRIVATE: True})
