"""Signed policy bundles: the master builds them (`build`), the agent verifies them
(`verify`); `format` is what both sides share.

Policies are code run as root, so an agent applies nothing it has not verified.

Format, one JSON object (it goes into one NATS KV value):

    {"v": 1, "manifest": "<manifest JSON text>", "signature": "<b64>", "archive": "<b64>"}

- archive: a gzip'd tar of the environment directory, deterministic (sorted
  entries, mtime 0, uid/gid 0, no owner names, mode 0644 or 0755, regular files
  only), so the same directory always gives the same bytes;
- manifest: `Manifest` as JSON text, carrying sha256 of the archive and of every
  file; the manifest's own sha256 (`VerifiedBundle.digest`) names the policy version;
- signature: ed25519 over the manifest text's UTF-8 bytes with the master's nkey.
  The manifest is kept as text so that the signed bytes are exactly the sent ones.

The sequence rises with each publication; an agent refuses one below the next it
expects, so an old (validly signed) bundle cannot be replayed to roll it back."""

from partout.bundle.build import build_bundle
from partout.bundle.format import BUNDLE_VERSION, MAX_BUNDLE_BYTES, BundleError, Manifest, peek_manifest
from partout.bundle.verify import (
    MAX_EXTRACTED_BYTES, VerifiedBundle, public_key_bytes, verify_bundle, verify_signature,
)

__all__ = [
    "BUNDLE_VERSION", "MAX_BUNDLE_BYTES", "MAX_EXTRACTED_BYTES", "BundleError", "Manifest", "VerifiedBundle",
    "build_bundle", "peek_manifest", "public_key_bytes", "verify_bundle", "verify_signature",
]
