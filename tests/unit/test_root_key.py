"""kms_core.crypto.root: wrapping row secrets under the root key, and loading that key."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from kms_core.crypto import DecryptionFailed
from kms_core.crypto.root import ROOT_KEY_ENV, ROOT_KEY_FILE, RootKey, RootKeyError, load_root_key

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))
ROW = "kms_key_material|1234abcd-12ab-34cd-56ef-1234567890ab|0001"


def test_wrap_unwrap_round_trip():
    rk = RootKey(KEY_A, "test")
    for secret in (b"", b"\x00", os.urandom(32), os.urandom(5000)):
        wrapped = rk.wrap(secret, ROW)
        if len(secret) >= 16:
            assert secret not in wrapped
        assert rk.unwrap(wrapped, ROW) == secret


def test_wrapping_is_randomised():
    rk = RootKey(KEY_A, "test")
    assert rk.wrap(b"same", ROW) != rk.wrap(b"same", ROW)


def test_unwrap_with_another_row_identity_fails():
    rk = RootKey(KEY_A, "test")
    wrapped = rk.wrap(b"material", ROW)
    for other in (ROW + "x", ROW[:-1] + "2", "kms_key_material|other-key|0001", ""):
        with pytest.raises(DecryptionFailed):
            rk.unwrap(wrapped, other)


def test_row_swap_fails():
    rk = RootKey(KEY_A, "test")
    row1, row2 = "kms_key_material|key-1|m1", "kms_key_material|key-2|m1"
    w1, w2 = rk.wrap(b"one", row1), rk.wrap(b"two", row2)
    with pytest.raises(DecryptionFailed):
        rk.unwrap(w2, row1)
    with pytest.raises(DecryptionFailed):
        rk.unwrap(w1, row2)


def test_unwrap_with_another_root_key_fails():
    wrapped = RootKey(KEY_A, "a").wrap(b"material", ROW)
    with pytest.raises(DecryptionFailed):
        RootKey(KEY_B, "b").unwrap(wrapped, ROW)


def test_tampered_or_truncated_wrap_fails():
    rk = RootKey(KEY_A, "test")
    wrapped = rk.wrap(b"material", ROW)
    for i in range(len(wrapped)):
        bad = bytearray(wrapped)
        bad[i] ^= 0x01
        with pytest.raises(DecryptionFailed):
            rk.unwrap(bytes(bad), ROW)
    for n in range(len(wrapped)):
        with pytest.raises(DecryptionFailed):
            rk.unwrap(wrapped[:n], ROW)


def test_wrapped_value_starts_with_version():
    assert RootKey(KEY_A, "test").wrap(b"x", ROW)[:1] == b"\x01"


def test_check_value_and_matches():
    a, a2, b = RootKey(KEY_A, "a"), RootKey(KEY_A, "a2"), RootKey(KEY_B, "b")
    assert a.check_value() == a2.check_value()
    assert a.check_value() != b.check_value()
    assert len(a.check_value()) == 64 and int(a.check_value(), 16) >= 0
    assert KEY_A.hex() not in a.check_value()
    assert a.matches(a2.check_value())
    assert not a.matches(b.check_value())
    assert not a.matches("")


def test_repr_does_not_leak_the_key():
    text = repr(RootKey(KEY_A, "file"))
    assert KEY_A.hex() not in text and base64.b64encode(KEY_A).decode() not in text
    assert "file" in text


@pytest.mark.parametrize("n", [0, 16, 31, 33, 64])
def test_wrong_key_length(n):
    with pytest.raises(RootKeyError):
        RootKey(b"\x00" * n, "test")


# -- load_root_key --------------------------------------------------------------------------------


def test_load_creates_file_with_mode_0600_and_reuses_it(tmp_path):
    data_dir = tmp_path / "data" / "nested"
    first = load_root_key(data_dir, environ={}, create=True)
    path = data_dir / ROOT_KEY_FILE
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_bytes().strip(), validate=True)) == 32
    contents = path.read_bytes()
    second = load_root_key(data_dir, environ={})
    assert path.read_bytes() == contents
    assert second.check_value() == first.check_value()
    assert second.unwrap(first.wrap(b"secret", ROW), ROW) == b"secret"


def test_load_creates_0600_even_with_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        load_root_key(tmp_path, environ={}, create=True)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / ROOT_KEY_FILE).stat().st_mode) == 0o600


def test_two_data_dirs_get_different_keys(tmp_path):
    a = load_root_key(tmp_path / "a", environ={}, create=True)
    b = load_root_key(tmp_path / "b", environ={}, create=True)
    assert a.check_value() != b.check_value()


def test_missing_file_is_never_made_unless_asked(tmp_path):
    with pytest.raises(RootKeyError, match="missing"):
        load_root_key(tmp_path, environ={})
    assert not (tmp_path / ROOT_KEY_FILE).exists()


def test_existing_file_is_used(tmp_path):
    (tmp_path / ROOT_KEY_FILE).write_bytes(base64.b64encode(KEY_A) + b"\n")
    assert load_root_key(tmp_path, environ={}).check_value() == RootKey(KEY_A, "x").check_value()


def test_env_var_wins_over_file(tmp_path):
    (tmp_path / ROOT_KEY_FILE).write_bytes(base64.b64encode(KEY_A) + b"\n")
    rk = load_root_key(tmp_path, environ={ROOT_KEY_ENV: base64.b64encode(KEY_B).decode()})
    assert rk.check_value() == RootKey(KEY_B, "x").check_value()
    assert ROOT_KEY_ENV in rk.source


def test_env_var_does_not_create_a_file(tmp_path):
    load_root_key(tmp_path, environ={ROOT_KEY_ENV: base64.b64encode(KEY_B).decode()})
    assert not (tmp_path / ROOT_KEY_FILE).exists()


def test_env_var_read_from_process_environment_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv(ROOT_KEY_ENV, base64.b64encode(KEY_B).decode())
    assert load_root_key(tmp_path).check_value() == RootKey(KEY_B, "x").check_value()


@pytest.mark.parametrize("value", ["not base64!", "AAAA=AAA", base64.b64encode(KEY_A).decode() + "\n x"])
def test_env_var_bad_base64(tmp_path, value):
    with pytest.raises(RootKeyError):
        load_root_key(tmp_path, environ={ROOT_KEY_ENV: value})


@pytest.mark.parametrize("n", [16, 31, 33, 64])
def test_env_var_wrong_length(tmp_path, n):
    with pytest.raises(RootKeyError):
        load_root_key(tmp_path, environ={ROOT_KEY_ENV: base64.b64encode(b"k" * n).decode()})


def test_key_file_bad_base64(tmp_path):
    (tmp_path / ROOT_KEY_FILE).write_bytes(b"@@@ not base64 @@@\n")
    with pytest.raises(RootKeyError):
        load_root_key(tmp_path, environ={})


def test_key_file_wrong_length(tmp_path):
    (tmp_path / ROOT_KEY_FILE).write_bytes(base64.b64encode(b"k" * 16) + b"\n")
    with pytest.raises(RootKeyError):
        load_root_key(tmp_path, environ={})
