"""The operator's side of the master API: signed requests over NATS, for the CLI and tests.

    with OperatorClient.connect(["nats://127.0.0.1:4222"], key_file=Path("keys/operator.nk")) as client:
        for agent in client.agents(status="pending"):
            client.approve(agent["public_key"], environment="production")

Every request is signed with the operator's nkey (the master checks the signature and
that the key is one of its operator keys); the same key authenticates the connection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from partout import subjects
from partout.errors import PartoutError, StateError

if TYPE_CHECKING:
    from partout.wire import WireMessage

Answer = TypeVar("Answer", bound="WireMessage")

REFUSAL_CHECK = 0.2  # seconds between looks for the server's refusal while waiting for an answer


class OperatorError(PartoutError):
    """The master refused or failed an operator request; the message says why."""


def default_key_file(nats_state: Path) -> Path:
    """operator.nk in partout-nats' state dir."""
    return nats_state / "keys" / "operator.nk"


class OperatorClient:
    def __init__(self, bus: Any, key_pair: Any, *, timeout: float = 10.0) -> None:
        self._bus = bus
        self._key_pair = key_pair
        self.public_key = key_pair.public_key.decode("ascii")
        self.timeout = timeout

    @classmethod
    def connect(cls, servers: Sequence[str], *, key_file: Path, timeout: float = 10.0) -> OperatorClient:
        import nkeys

        from partout.bus.facade import Bus
        from partout.nats.keys import USER, load_seed
        from partout.bus.messages import BusOptions, GetStats

        if not key_file.exists():
            raise StateError(f"operator key {key_file} does not exist and no running `partout up` or "
                             f"`partout-nats` was found here; give --nats-state (or --operator-key) and --nats")
        key_pair = nkeys.from_seed(bytearray(load_seed(key_file, USER)))
        # replies come into this operator's own inbox, the only one the master answers into
        inbox = subjects.inbox_prefix(key_pair.public_key.decode("ascii"))
        bus = Bus.start(BusOptions(servers=tuple(servers), name="partout-operator", seed_file=key_file,
                                   reconnect_wait=0.1, connect_timeout=min(timeout, 5.0), inbox_prefix=inbox))
        bus.ref.ask(GetStats(), timeout=10)  # its actor has started: calls may go straight to it
        return cls(bus, key_pair, timeout=timeout)

    def close(self) -> None:
        self._bus.stop()

    def __enter__(self) -> OperatorClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def call(self, verb: str, **arguments: Any) -> Any:
        """Send one signed request; the reply's data, or OperatorError with the master's reason."""
        from partout.wire import encode
        from partout.wire.fleet import OperatorReply, OperatorRequest

        request = OperatorRequest(public_key=self.public_key, verb=verb,
                                  arguments={k: v for k, v in arguments.items() if v is not None})
        reply = self._ask(subjects.master_api(), encode(request.signed_by(self._key_pair)), OperatorReply,
                          silence="no answer from a master ({error}); is `partout master` running and connected "
                                  "to the same NATS?")
        if not reply.ok:
            raise OperatorError(reply.error or "the master refused the request")
        return reply.data

    def _ask(self, subject: str, data: bytes, kind: type[Answer], *, silence: str) -> Answer:
        """Request and decode the master's answer; OperatorError with `silence` (its `{error}`
        filled in) when none comes, or when the answer is unreadable."""
        import pykka

        from partout.wire import decode

        asked = self._bus.request(subject, data, timeout=self.timeout)
        deadline = time.monotonic() + self.timeout + 5
        while True:
            try:
                message = asked.get(timeout=REFUSAL_CHECK)
                break
            except pykka.Timeout as error:
                if self._publish_refused(subject):  # no answer can come: say so now, not at the timeout
                    raise OperatorError(f"NATS refused this key's publish to {subject}: it may not send there "
                                        "(an operator key, or an integration with the trigger role for "
                                        "partout.trigger.>)") from error
                if time.monotonic() > deadline:
                    raise OperatorError(silence.format(error=error)) from error
            except Exception as error:  # BusError: the bus stopped, or the request could not go out
                raise OperatorError(silence.format(error=error)) from error
        reply = decode(kind, message.data)
        if reply is None:
            raise OperatorError("the master sent an unreadable reply")
        return reply

    def _publish_refused(self, subject: str) -> bool:
        """Whether the server told this connection it may not publish on `subject`."""
        refused = f'permissions violation for publish to "{subject}"'.lower()
        errors = self._bus.stats().get(timeout=5).errors
        return any(refused in message.lower() for message in errors)

    def agents(self, status: str | None = None, environment: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("agents.list", status=status, environment=environment)
        return result

    def agents_where(self, where: str, status: str | None = None,
                     environment: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
        """The agents an inventory query matches, and the master's warnings (unknown facts)."""
        result: dict[str, Any] = self.call("agents.list", where=where, status=status, environment=environment)
        return list(result["agents"]), list(result["warnings"])

    def inventory(self, where: str, fields: list[str] | None = None, status: str | None = None,
                  environment: str | None = None) -> dict[str, Any]:
        """{rows: the matching agents' fields (sorted by hostname, id), warnings}."""
        result: dict[str, Any] = self.call("inventory.query", where=where, fields=fields, status=status,
                                           environment=environment)
        return result

    def show(self, agent: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("agents.show", id=agent)
        return result

    def approve(self, agent: str, environment: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.call("agents.approve", id=agent, environment=environment)
        return result

    def revoke(self, agent: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("agents.revoke", id=agent)
        return result

    def apply_now(self, agent: str) -> dict[str, Any]:
        """Have an approved agent run its policy now."""
        result: dict[str, Any] = self.call("agents.apply", id=agent)
        return result

    def reports(self, agent: str, limit: int = 20) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("reports", id=agent, limit=limit)
        return result

    def agent_reports(self, agent: str, limit: int = 20) -> dict[str, Any]:
        """{agent: summary, matched: how `agent` was matched, reports: [...]}."""
        result: dict[str, Any] = self.call("reports", id=agent, limit=limit, with_agent=True)
        return result

    def policy_errors(self, environment: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("policy.errors", environment=environment, limit=limit)
        return result

    def add_integration(self, name: str, role: str, public_key: str) -> dict[str, Any]:
        """Register an integration's public key (its seed stays with the caller)."""
        result: dict[str, Any] = self.call("integrations.add", name=name, role=role, public_key=public_key)
        return result

    def integrations(self, *, removed: bool = False) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("integrations.list", removed=removed or None)
        return result

    def remove_integration(self, name: str) -> dict[str, Any]:
        """Remove an integration: its connections are closed and its key refused from then on."""
        result: dict[str, Any] = self.call("integrations.remove", name=name)
        return result

    def events(self, *, agent: str | None = None, module: str | None = None, status: str | None = None,
               since: str | None = None, until: str | None = None, limit: int = 100) -> dict[str, Any]:
        """{agent, matched, events (newest first), totals, subject}: see partout.master.events_query."""
        result: dict[str, Any] = self.call("events", agent=agent, module=module, status=status, since=since,
                                           until=until, limit=limit)
        return result

    def trigger(self, name: str, where: str = "true", data: dict[str, Any] | None = None, *,
                wait: bool = True) -> Any:
        """Fire trigger `name` on the approved agents `where` selects, signed by this client's
        key (an operator's, or an integration's with the trigger role): the master's
        TriggerReply (OperatorError when it refused), or None without `wait`."""
        import secrets

        from partout.wire import encode
        from partout.wire.triggers import TriggerReply, TriggerRequest

        request = TriggerRequest(public_key=self.public_key, name=name, where=where, data=data or {},
                                 nonce=secrets.token_hex(16)).signed_by(self._key_pair)
        subject = subjects.trigger(name)
        if not wait:
            self._bus.publish(subject, encode(request))
            self._bus.flush().get(timeout=self.timeout)
            return None
        reply = self._ask(subject, encode(request), TriggerReply,
                          silence=f"no answer to trigger {name!r} ({{error}}); is `partout master` running, and may "
                                  "this key publish partout.trigger.> (an operator, or an integration with the "
                                  "trigger role)?")
        if not reply.ok:
            raise OperatorError(reply.error or "the master refused the trigger")
        return reply

    def follow(self, subject: str, target: Callable[[Any], None]) -> None:
        """Have every message on `subject` (node events: `partout.node.>` or narrower) passed to
        `target` (a BusMessage, on the bus thread) until the client closes."""
        self._bus.subscribe(subject, target).get(timeout=self.timeout)
        self._bus.flush().get(timeout=self.timeout)
