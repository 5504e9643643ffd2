def test_encrypt_decrypt_round_trip(kms, key_id):
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"hello", EncryptionContext={"a": "b"})["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})
    assert out["Plaintext"] == b"hello"
    assert out["KeyId"].endswith(key_id)
