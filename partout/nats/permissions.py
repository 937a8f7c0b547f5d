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
    TRIGGER = "trigger"


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

    def user_claims(self) -> dict[str, object]:
        """The whole `nats` claims of a user JWT. (nats-server 2.15 ignores the subs/data/payload
        limits of a user made by auth callout, so none are set: the master bounds sizes itself.)"""
        return {"type": "user", "version": 2, "subs": -1, "data": -1, "payload": -1, **self.claims()}


# An identity answers no requests (no `resp`) and never publishes where it subscribes: with
# both, it could bounce a message off a subject it reads, with any reply subject, and
# "answer" it, i.e. publish anywhere. tests/security checks every role against this.


def master() -> Permissions:
    """Everything in the PARTOUT account: it runs enrolment, publishes policies, ingests.
    (It publishes everywhere anyway, so it needs no `resp`; its handlers answer only into
    the requester's own inbox, see partout.master.guard.)"""
    return Permissions(publish_allow=(">",), subscribe_allow=(">",))


def operator(public_key: str) -> Permissions:
    """Operator CLI: signed requests to the master, triggers; replies in its own inbox, and
    the events republished for integrations."""
    return Permissions(
        publish_allow=(subjects.master_api(), subjects.TRIGGERS_ALL),
        subscribe_allow=(subjects.inbox_all(public_key), subjects.NODE_EVENTS_ALL),
    )


def agent(agent_id: str, environment: str, public_key: str | None = None) -> Permissions:
    """An approved agent: its report, facts and events subjects out (named, not a wildcard:
    never its control subject), its enrolment subject, its inventory requests (`p2.nodes`,
    answered into its own inbox); its control subject, inboxes and its environment's policy in."""
    enrolment = (subjects.enrol(public_key),) if public_key else ()
    # its public-key inbox too: an approved agent that lost its enrolment reply does not
    # know its id yet, and must still be able to enrol again to learn it
    key_inbox = (subjects.inbox_all(public_key),) if public_key else ()
    return Permissions(
        publish_allow=(
            subjects.agent_report(agent_id),
            subjects.agent_facts(agent_id),
            subjects.agent_events(agent_id),
            subjects.inventory_request(agent_id),
            *enrolment,
            # its environment's current policy, by a direct get that names the key in the
            # subject; changes arrive on the bucket's republished subject below. No
            # STREAM.INFO (it would list every environment's key with a subjects filter)
            # and no consumer rights (CONSUMER.CREATE carries its filter in the payload).
            subjects.policy_direct_get(environment),
        ),
        subscribe_allow=(
            subjects.agent_control(agent_id),
            subjects.inbox_all(agent_id),
            *key_inbox,
            subjects.policy_updates(environment),
        ),
    )


def pending(public_key: str) -> Permissions:
    """An agent waiting for approval: its own enrolment subject and inbox only."""
    return Permissions(publish_allow=(subjects.enrol(public_key),), subscribe_allow=(subjects.inbox_all(public_key),))


def reader(public_key: str) -> Permissions:
    """A third-party integration that reads: the events republished for integrations and its
    own inbox in; nothing out (it makes no requests, so nats-py needs no publish right)."""
    return Permissions(subscribe_allow=(subjects.NODE_EVENTS_ALL, subjects.inbox_all(public_key)))


def trigger(public_key: str) -> Permissions:
    """A third-party integration that also fires triggers: a reader that may publish
    `partout.trigger.>` (which it does not read, so no reply-subject bounce)."""
    return reader(public_key).model_copy(update={"publish_allow": (subjects.TRIGGERS_ALL,)})
