"""NATS JWTs signed with nkeys, by hand: the `nats-jwt` package lacks the authorization claims.

A JWT is `base64url(header).base64url(claims).base64url(signature)` without padding, with
header {"typ":"JWT","alg":"ed25519-nkey"} and an ed25519 signature by the issuer's nkey
over the first two parts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from typing import Any

import nkeys

from partout.errors import BusError

HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}


class JwtError(BusError):
    """A JWT is malformed or its signature does not verify."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(claims: dict[str, Any], signer: nkeys.KeyPair) -> str:
    """Sign `claims` with `signer`; `iss`, `iat` and `jti` are filled in when absent."""
    body = dict(claims)
    body.setdefault("iss", signer.public_key.decode("ascii"))
    body.setdefault("iat", int(time.time()))
    body.pop("jti", None)
    # jti is a hash of the claims, as the Go library does, so equal claims get equal ids.
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
    body["jti"] = base64.b32encode(digest).decode("ascii").rstrip("=")
    head = _b64encode(json.dumps(HEADER, separators=(",", ":")).encode())
    payload = _b64encode(json.dumps(body, separators=(",", ":")).encode())
    signature = signer.sign(f"{head}.{payload}".encode("ascii"))
    return f"{head}.{payload}.{_b64encode(signature)}"


def decode(token: str, *, issuer: str | None = None) -> dict[str, Any]:
    """Return the claims of `token` after verifying its signature by its `iss`.

    With `issuer` given, the token must also have been issued by that public key."""
    try:
        head, payload, signature = token.split(".")
        header = json.loads(_b64decode(head))
        claims: dict[str, Any] = json.loads(_b64decode(payload))
    except (ValueError, TypeError) as exc:
        raise JwtError(f"malformed JWT: {exc}") from exc
    if header.get("alg") not in ("ed25519-nkey", "ed25519"):
        raise JwtError(f"JWT algorithm {header.get('alg')!r} is not ed25519-nkey")
    signer = str(claims.get("iss", ""))
    if issuer is not None and signer != issuer:
        raise JwtError(f"JWT issued by {signer}, expected {issuer}")
    if not verify(signer, f"{head}.{payload}".encode("ascii"), _b64decode(signature)):
        raise JwtError(f"JWT signature does not verify against its issuer {signer}")
    return claims


def verify(public_key: str, data: bytes, signature: bytes) -> bool:
    """True when `signature` is `public_key`'s ed25519 signature of `data`."""
    import nacl.exceptions
    import nacl.signing

    try:
        raw = base64.b32decode(public_key.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return False
    if len(raw) != 35 or not nkeys.valid_public_prefix_byte(raw[0]):
        return False
    if nkeys.crc16(bytearray(raw[:33])) != int.from_bytes(raw[33:], "little"):
        return False
    try:
        nacl.signing.VerifyKey(raw[1:33]).verify(data, signature)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


def create_key(prefix: int) -> nkeys.KeyPair:
    """A fresh nkey pair of the given role (nkeys.PREFIX_BYTE_USER, _ACCOUNT, ...)."""
    seed = nkeys.encode_seed(os.urandom(32), prefix)
    return nkeys.from_seed(bytearray(seed))


def public_key(seed: bytes) -> str:
    """The public key (U..., A..., O...) of an nkey seed."""
    key: bytes = nkeys.from_seed(bytearray(seed.strip())).public_key
    return key.decode("ascii")
