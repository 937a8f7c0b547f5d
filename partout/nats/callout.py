"""The auth callout responder: decides who each connecting client is and what it may do.

nats-server sends every connection (except the callout service user) as an authorization
request JWT on `$SYS.REQ.USER.AUTH`; the responder answers with an authorization response
JWT holding a user JWT for account PARTOUT with that identity's permissions, or an error.

The server does NOT check a callout client's nkey signature, so the responder does:
`connect_opts.sig` must be the signature of `client_info.nonce` by `connect_opts.nkey`.
Only then is `connect_opts.nkey` the client's identity, handed to `authorize`.
"""

from __future__ import annotations

import base64
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import nkeys

from partout.nats import jwt
from partout.nats.permissions import Permissions, Role

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

log = logging.getLogger(__name__)

AUTH_SUBJECT = "$SYS.REQ.USER.AUTH"
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


Authorize = Callable[[AuthorizationRequest], "Decision | Awaitable[Decision]"]


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
    """Answers auth callout requests on a nats-py connection made as the callout service user."""

    def __init__(self, issuer: nkeys.KeyPair, authorize: Authorize, *, account: str = ACCOUNT) -> None:
        self._issuer = issuer
        self._issuer_public = issuer.public_key.decode("ascii")
        self._authorize = authorize
        self._account = account
        self._subscription: Subscription | None = None
        self.refused = 0
        self.allowed = 0

    async def start(self, connection: Client) -> None:
        """Subscribe to the server's authorization requests (queue group: several masters share)."""
        self._subscription = await connection.subscribe(AUTH_SUBJECT, queue="partout-callout", cb=self._handle)
        await connection.flush()

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def _handle(self, message: Msg) -> None:
        try:
            response = await self.respond(message.data)
        except Exception:  # a broken request must not kill the subscription
            log.exception("auth callout request failed")
            return
        if response is not None and message.reply:
            await message.respond(response.encode("ascii"))

    async def respond(self, request_token: bytes) -> str | None:
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
                outcome = self._authorize(asked)
                decision = await outcome if inspect.isawaitable(outcome) else outcome
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


async def connect_responder(
    servers: list[str], service_seed: bytes, issuer: nkeys.KeyPair, authorize: Authorize, **options: Any
) -> tuple[Client, CalloutResponder]:
    """Connect as the callout service user and start answering; returns (connection, responder)."""
    import nats

    connection = await nats.connect(
        servers, nkeys_seed_str=service_seed.decode("ascii").strip(), name="partout-callout",
        max_reconnect_attempts=-1, reconnect_time_wait=0.2, **options,
    )
    responder = CalloutResponder(issuer, authorize)
    await responder.start(connection)
    return connection, responder


__all__ = [
    "AUTH_SUBJECT", "AuthorizationRequest", "Authorize", "CalloutResponder", "Decision",
    "connect_responder", "static_authorizer", "verify_client",
]
