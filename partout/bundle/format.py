"""The bundle format both sides share: the manifest, the JSON envelope, the limits and
the rule for safe member names. See `partout.bundle` for the format itself."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from partout.errors import PartoutError

BUNDLE_VERSION = 1
MAX_BUNDLE_BYTES = 8 * 1024 * 1024


class BundleError(PartoutError):
    """A bundle cannot be built, or was refused: it must not be applied."""


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = BUNDLE_VERSION
    environment: str
    sequence: int = Field(ge=0, description="Rises with every publication; replays are refused.")
    created_at: datetime
    signer: str = Field(description="Public nkey of the master that signed; informative only.")
    archive_sha256: str
    files: dict[str, str] = Field(description="Relative POSIX path -> sha256 of the content.")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unsafe_reason(name: str) -> str | None:
    """Why `name` may not be a bundle path, or None when it is a plain relative path."""
    if not name or "\x00" in name or "\\" in name:
        return "empty name, NUL byte or backslash"
    if name.startswith("/"):
        return "absolute path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "'..', '.' or empty path component"
    return None


def seal(manifest_text: str, signature: bytes, archive: bytes) -> bytes:
    """The envelope: the bytes that go into the policy KV value."""
    return json.dumps(
        {
            "v": BUNDLE_VERSION,
            "manifest": manifest_text,
            "signature": base64.b64encode(signature).decode(),
            "archive": base64.b64encode(archive).decode(),
        },
        separators=(",", ":"),
    ).encode()


def open_envelope(data: bytes, max_bytes: int) -> tuple[str, bytes, bytes]:
    """(manifest text, signature, archive) of an envelope, NOT verified."""
    if len(data) > max_bytes:
        raise BundleError(f"bundle refused: {len(data)} bytes, over the {max_bytes}-byte limit")
    try:
        envelope: Any = json.loads(data)
        if envelope.get("v") != BUNDLE_VERSION:
            raise BundleError(f"bundle refused: format version {envelope.get('v')!r}, expected {BUNDLE_VERSION}")
        return (
            str(envelope["manifest"]),
            base64.b64decode(envelope["signature"], validate=True),
            base64.b64decode(envelope["archive"], validate=True),
        )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise BundleError("bundle refused: not a Partout policy bundle (malformed envelope)") from None


def parse_manifest(manifest_text: str | bytes) -> Manifest:
    try:
        return Manifest.model_validate_json(manifest_text)
    except ValidationError as exc:
        raise BundleError(f"bundle refused: malformed manifest ({exc.error_count()} errors)") from None


def peek_manifest(data: bytes, *, max_bytes: int = MAX_BUNDLE_BYTES) -> Manifest:
    """The manifest of a bundle, NOT verified: for logs and for the master to see
    what it last published (e.g. to skip republishing the same archive)."""
    manifest_text, _signature, _archive = open_envelope(data, max_bytes)
    return parse_manifest(manifest_text)
