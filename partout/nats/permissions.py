"""Who may publish and subscribe to what: one permission table per role.

NATS treats an empty allow list as "everything", so every role here names what it may
do and denies `>` on the side where it may do nothing (deny by default).
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from partout import subjects


class Role(str, Enum):
    MASTER = "master"
    OPERATOR = "operator"
    AGENT = "agent"
    PENDING = "pending"
    READER = "reader"


class Permissions(BaseModel):
    """Publish/subscribe allow and deny lists, and whether the user may answer requests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    publish_allow: tuple[str, ...] = ()
    publish_deny: tuple[str, ...] = ()
    subscribe_allow: tuple[str, ...] = ()
    subscribe_deny: tuple[str, ...] = ()
    allow_responses: bool = Field(False, description="May publish one reply to a request it received.")

    def claims(self) -> dict[str, object]:
        """The `pub`/`sub`/`resp` part of a NATS user JWT's `nats` claims."""
        publish: dict[str, list[str]] = {"allow": list(self.publish_allow)}
        subscribe: dict[str, list[str]] = {"allow": list(self.subscribe_allow)}
        # an empty allow list means everything to NATS: deny all instead
        if not self.publish_allow:
            publish = {"allow": [], "deny": [">"]}
        elif self.publish_deny:
            publish["deny"] = list(self.publish_deny)
        if not self.subscribe_allow:
            subscribe = {"allow": [], "deny": [">"]}
        elif self.subscribe_deny:
            subscribe["deny"] = list(self.subscribe_deny)
        result: dict[str, object] = {"pub": publish, "sub": subscribe}
        if self.allow_responses:
            result["resp"] = {"max": 1, "ttl": 0}
        return result


def _js_api(*operations: str) -> tuple[str, ...]:
    return tuple(f"$JS.API.{operation}" for operation in operations)


def master() -> Permissions:
    """Everything in the PARTOUT account: it runs enrolment, publishes policies, ingests."""
    return Permissions(publish_allow=(">",), subscribe_allow=(">",), allow_responses=True)


def operator() -> Permissions:
    """Operator CLI: requests to the master, triggers, reading events and reports."""
    return Permissions(
        publish_allow=(subjects.ALL, "$JS.API.>", "$KV.>"),
        subscribe_allow=(subjects.ALL, f"{subjects.DEFAULT_INBOX}.>"),
    )


def agent(agent_id: str, environment: str) -> Permissions:
    """An approved agent: its own subjects out; its control subject, inbox and policy in."""
    bucket = subjects.POLICY_BUCKET
    key = subjects.policy_key(environment)
    stream = f"KV_{bucket}"
    return Permissions(
        publish_allow=(
            subjects.agent_all(agent_id),
            subjects.ENROL,
            # its environment's current policy, by a direct get that names the key in the
            # subject; changes arrive on the bucket's republished subject below. No consumer
            # rights: CONSUMER.CREATE.<stream> carries its filter in the payload and would
            # expose every environment's policy.
            # (STREAM.INFO: nats-py's key_value() looks the bucket up first; it shows the
            # bucket's configuration, no environment's content)
            *_js_api(f"STREAM.INFO.{stream}", f"DIRECT.GET.{stream}.$KV.{bucket}.{key}"),
        ),
        subscribe_allow=(
            subjects.agent_control(agent_id),
            subjects.inbox_all(agent_id),
            subjects.policy_updates(environment),
        ),
        allow_responses=True,
    )


def pending(agent_id: str) -> Permissions:
    """An agent waiting for approval: enrolment requests and their replies only."""
    return Permissions(publish_allow=(subjects.ENROL,), subscribe_allow=(subjects.inbox_all(agent_id),))


def reader() -> Permissions:
    """A third-party integration: republished node events in, triggers out."""
    return Permissions(
        publish_allow=(subjects.TRIGGERS_ALL,),
        subscribe_allow=(subjects.NODE_EVENTS_ALL, f"{subjects.DEFAULT_INBOX}.>"),
    )
