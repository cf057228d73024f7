"""Compact JWE with ``alg: dir`` and ``enc: A256GCM`` (RFC 7516, RFC 7518 §4.5 and §5.3), as
SMART Health Links require for their files, with the optional ``zip: DEF`` (raw DEFLATE,
RFC 1951) applied before encryption.

``dir`` means the 32-byte content key is the link's key itself: the encrypted key part of
the compact form is empty. The additional authenticated data is the ASCII of the encoded
protected header (RFC 7516 §5.1 step 14), so the header cannot be changed either.
"""

from __future__ import annotations

import base64
import json
import os
import zlib

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
IV_BYTES = 12  # 96-bit IV, RFC 7518 §5.3


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw DEFLATE: no zlib header (RFC 7516 §4.1.3)
    return compressor.compress(data) + compressor.flush()


def encrypt(plaintext: bytes, key: bytes, *, content_type: str = "application/fhir+json",
            compress: bool = True) -> str:
    """The compact serialization ``header..iv.ciphertext.tag``."""
    if len(key) != KEY_BYTES:
        raise ValueError("A256GCM needs a 32-byte key")
    header = {"alg": "dir", "enc": "A256GCM", "cty": content_type}
    if compress:
        header["zip"] = "DEF"
        plaintext = _deflate(plaintext)
    protected = b64url(json.dumps(header, separators=(",", ":")).encode())
    iv = os.urandom(IV_BYTES)
    sealed = AESGCM(key).encrypt(iv, plaintext, protected.encode("ascii"))
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return ".".join([protected, "", b64url(iv), b64url(ciphertext), b64url(tag)])


def decrypt(token: str, key: bytes) -> bytes:
    """The plaintext of a compact ``dir``/``A256GCM`` JWE (raises ValueError if it is not one,
    ``cryptography.exceptions.InvalidTag`` if the key or the token is wrong)."""
    parts = token.split(".")
    if len(parts) != 5 or parts[1]:
        raise ValueError("not a compact JWE with alg dir")
    protected, _, iv, ciphertext, tag = parts
    header = json.loads(b64url_decode(protected))
    if header.get("alg") != "dir" or header.get("enc") != "A256GCM":
        raise ValueError("only alg dir with enc A256GCM is supported")
    plain = AESGCM(key).decrypt(b64url_decode(iv), b64url_decode(ciphertext) + b64url_decode(tag),
                                protected.encode("ascii"))
    return zlib.decompress(plain, -15) if header.get("zip") == "DEF" else plain
