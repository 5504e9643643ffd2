"""HmacSha256Key against the standard library and RFC 4231's test vectors."""

import hmac

from hypothesis import given, strategies as st

from kms_core.crypto.keyed_hash import HmacSha256Key

# RFC 4231 section 4: (key, data, HMAC-SHA-256); cases 1, 2, 4, 6 (a key longer than a block), 7
RFC_4231 = [
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (bytes(range(1, 26)), b"\xcd" * 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than block-size data. "
     b"The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


def test_rfc_4231_vectors():
    for key, data, expected in RFC_4231:
        assert HmacSha256Key(key).digest(data).hex() == expected


@given(st.binary(max_size=200), st.lists(st.binary(max_size=300), min_size=1, max_size=4))
def test_same_as_hmac_for_any_key_and_messages(key, messages):
    prepared = HmacSha256Key(key)
    for message in messages:  # reusable: each digest starts from the key's states
        assert prepared.digest(message) == hmac.digest(key, message, "sha256")


def test_repr_hides_the_key():
    assert "aa" not in repr(HmacSha256Key(b"\xaa" * 32)).lower()
