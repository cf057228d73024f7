"""The JWE of a SMART Health Link file: ours encrypts, a standard JOSE library (authlib) decrypts."""

from __future__ import annotations

import json

import pytest
from cryptography.exceptions import InvalidTag

from fhir_server.shl import jwe
from tests.shl.conftest import JsonWebEncryption

PATIENT = {"resourceType": "Patient", "id": "p", "name": [{"text": "É"}]}
RECORD = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": PATIENT}]}


@pytest.mark.parametrize("compress", [True, False])
def test_authlib_decrypts_what_we_encrypt(compress: bool) -> None:
    key = jwe.new_key()
    token = jwe.encrypt(json.dumps(RECORD).encode(), key, compress=compress)
    _, encrypted_key, *_ = token.split(".")
    assert encrypted_key == ""  # alg dir: no wrapped key
    result = JsonWebEncryption().deserialize_compact(token, key)
    assert result["header"]["alg"] == "dir"
    assert result["header"]["enc"] == "A256GCM"
    assert result["header"]["cty"] == "application/fhir+json"
    assert ("zip" in result["header"]) is compress
    assert json.loads(result["payload"]) == RECORD


def test_we_decrypt_what_authlib_encrypts() -> None:
    key = jwe.new_key()
    token = JsonWebEncryption().serialize_compact({"alg": "dir", "enc": "A256GCM", "zip": "DEF"},
                                                  b'{"a": 1}', key)
    assert json.loads(jwe.decrypt(token.decode(), key)) == {"a": 1}


def test_the_wrong_key_or_a_changed_header_does_not_decrypt() -> None:
    key = jwe.new_key()
    token = jwe.encrypt(b"secret", key)
    with pytest.raises(InvalidTag):
        jwe.decrypt(token, jwe.new_key())
    header = jwe.b64url(b'{"alg":"dir","enc":"A256GCM"}')
    with pytest.raises(InvalidTag):
        jwe.decrypt(".".join([header, *token.split(".")[1:]]), key)


def test_keys_are_32_random_bytes() -> None:
    keys = {jwe.new_key() for _ in range(20)}
    assert len(keys) == 20 and all(len(k) == 32 for k in keys)
