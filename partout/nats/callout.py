"""The auth callout responder: decides who each connecting client is and what it may do.

nats-server sends every connection (except the callout service user) as an authorization
request JWT on `subjects.AUTH_CALLOUT`; the responder answers with an authorization response
JWT holding a user JWT for account PARTOUT with that identity's permissions, or an error.

The server does NOT check a callout client's nkey signature, so the responder does:
`connect_opts.sig` must be the signature of `client_info.nonce` by `connect_opts.nkey`.
Only then is `connect_opts.nkey` the client's identity, handed to `authorize`.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nkeys

from partout.nats import jwt
from partout.nats.permissions import Permissions, Role

log = logging.getLogger(__name__)

ACCOUNT = "PARTOUT"


@dataclass(frozen=True)
class AuthorizationRequest:
    """A connecting client whose nkey signature has been verified."""

    public_key: str  # the client's own nkey (its identity)
    name: str  # the client's connection name, as it says
    host: str
    server: str  # server name that asked
    claims: Mapping[str, Any] = field(repr=False)  # the whole decoded request, for the curious


@dataclass(frozen=True)
class Decision:
    """`allow(...)` or `refuse(reason)`; made by the authorize callback."""

    role: Role | None
    permissions: Permissions | None
    reason: str = ""
    name: str = ""

    @classmethod
    def allow(cls, role: Role, permissions: Permissions, *, name: str = "") -> Decision:
        return cls(role=role, permissions=permissions, name=name)

    @classmethod
    def refuse(cls, reason: str) -> Decision:
        return cls(role=None, permissions=None, reason=reason)

    @property
    def allowed(self) -> bool:
        return self.permissions is not None


# runs on the thread of whoever feeds the responder (the CalloutActor): it may wait on the store
Authorize = Callable[[AuthorizationRequest], Decision]


def _decode_signature(text: str) -> bytes:
    # nats-py sends standard base64 with padding, the Go client raw URL-safe: accept both
    normalized = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(normalized + "=" * (-len(normalized) % 4))


def verify_client(claims: Mapping[str, Any]) -> str | None:
    """The client's public nkey if its signature over the server's nonce verifies, else None."""
    nats_claims = claims.get("nats", {})
    options = nats_claims.get("connect_opts", {}) or {}
    nonce = (nats_claims.get("client_info", {}) or {}).get("nonce", "")
    public_key = options.get("nkey", "")
    signature = options.get("sig", "")
    if not (public_key and signature and nonce) or not public_key.startswith("U"):
        return None
    try:
        raw = _decode_signature(signature)
    except ValueError:
        return None
    return public_key if jwt.verify(public_key, nonce.encode("ascii"), raw) else None


class CalloutResponder:
    """Turns one authorization request JWT into its response JWT. Holds no connection: the
    master's CalloutActor feeds it the requests its bus subscription receives
    (`subjects.AUTH_CALLOUT`) and publishes the answers on their reply subjects."""

    def __init__(self, issuer: nkeys.KeyPair, authorize: Authorize, *, account: str = ACCOUNT) -> None:
        self._issuer = issuer
        self._issuer_public = issuer.public_key.decode("ascii")
        self._authorize = authorize
        self._account = account
        self.refused = 0
        self.allowed = 0

    def respond(self, request_token: bytes) -> str | None:
        """The authorization response JWT for one request JWT, or None if it is not from a server."""
        try:
            request = jwt.decode(request_token.decode("ascii"))
        except (jwt.JwtError, UnicodeDecodeError):
            log.warning("auth callout request with a bad JWT dropped")
            return None
        nats_claims = request.get("nats", {})
        server = nats_claims.get("server_id", {}) or {}
        user_nkey = str(nats_claims.get("user_nkey", ""))
        client = nats_claims.get("client_info", {}) or {}
        public_key = verify_client(request)
        if public_key is None:
            decision = Decision.refuse("an nkey signature over the server nonce is required")
        else:
            asked = AuthorizationRequest(
                public_key=public_key,
                name=str((nats_claims.get("connect_opts", {}) or {}).get("name", "") or ""),
                host=str(client.get("host", "")),
                server=str(server.get("name", "")),
                claims=request,
            )
            try:
                decision = self._authorize(asked)
            except Exception:
                log.exception("authorize callback failed", extra={"public_key": public_key})
                decision = Decision.refuse("authorization failed")
        body: dict[str, Any] = {"type": "authorization_response", "version": 2}
        if decision.allowed and decision.permissions is not None:
            self.allowed += 1
            body["jwt"] = self.user_jwt(user_nkey, decision, public_key or "")
        else:
            self.refused += 1
            body["error"] = decision.reason or "not authorized"
            log.info("connection refused", extra={"public_key": public_key, "reason": decision.reason})
        return jwt.encode({"sub": user_nkey, "aud": server.get("id", ""), "nats": body}, self._issuer)

    def user_jwt(self, user_nkey: str, decision: Decision, identity: str) -> str:
        """A user JWT placing the connection in the PARTOUT account with the decided permissions."""
        assert decision.permissions is not None
        return jwt.encode(
            {"sub": user_nkey, "aud": self._account, "name": decision.name or identity,
             "nats": decision.permissions.user_claims()},
            self._issuer,
        )


def static_authorizer(table: Mapping[str, tuple[Role, Permissions]]) -> Callable[[AuthorizationRequest], Decision]:
    """An authorize callback from a fixed public key -> (role, permissions) table (tests, bootstrap)."""

    def authorize(request: AuthorizationRequest) -> Decision:
        entry = table.get(request.public_key)
        if entry is None:
            return Decision.refuse("unknown nkey")
        return Decision.allow(entry[0], entry[1], name=request.public_key)

    return authorize


__all__ = [
    "AuthorizationRequest", "Authorize", "CalloutResponder", "Decision",
    "static_authorizer", "verify_client",
]
