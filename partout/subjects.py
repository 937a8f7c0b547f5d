"""Every NATS subject, stream and bucket name Partout uses. No f-string subjects elsewhere.

See DESIGN.md "NATS subjects". Agent ids and names become subject tokens, so they are
checked: no dots, spaces, wildcards or empty strings.
"""

from __future__ import annotations

import re

from partout.errors import BusError

PREFIX = "partout"
ENROL = "partout.enrol"
ENROL_ALL = "partout.enrol.*"
ALL = "partout.>"
AGENT_EVENTS_ALL = "partout.agent.*.events"
AGENT_REPORTS_ALL = "partout.agent.*.report"
AGENT_FACTS_ALL = "partout.agent.*.facts"
TRIGGERS_ALL = "partout.trigger.>"
NODE_EVENTS_ALL = "partout.node.>"

EVENTS_STREAM = "PARTOUT_EVENTS"
REPORTS_STREAM = "PARTOUT_REPORTS"
POLICY_BUCKET = "partout-policy"
# nonces of signed operator requests, shared by every master (a replay is refused by all)
NONCE_BUCKET = "partout-nonces"

DEFAULT_INBOX = "_INBOX"

_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+$")


def token(value: str, what: str = "subject token") -> str:
    """`value` if it is safe as one subject token (letters, digits, '-', '_'), else BusError."""
    if not _TOKEN.match(value):
        raise BusError(f"{what} {value!r} cannot be used in a NATS subject; use letters, digits, '-' and '_'")
    return value


def agent_all(agent_id: str) -> str:
    """Every subject an agent publishes on: `partout.agent.<id>.>`."""
    return f"{PREFIX}.agent.{token(agent_id, 'agent id')}.>"


def enrol(public_key: str) -> str:
    """Where the holder of `public_key` asks to enrol: `partout.enrol.<public key>`. Only that
    key's connection may publish there (its permissions name it), so a request is bound to
    the nkey that connected: one connection cannot enrol keys it did not connect with."""
    return f"{ENROL}.{token(public_key, 'public key')}"


def enrol_key(subject: str) -> str | None:
    """The public key an enrolment subject names, or None when it is not one."""
    prefix, _, key = subject.rpartition(".")
    return key if prefix == ENROL and _TOKEN.match(key) else None


def agent_events(agent_id: str) -> str:
    return f"{PREFIX}.agent.{token(agent_id, 'agent id')}.events"


def agent_facts(agent_id: str) -> str:
    return f"{PREFIX}.agent.{token(agent_id, 'agent id')}.facts"


def agent_report(agent_id: str) -> str:
    return f"{PREFIX}.agent.{token(agent_id, 'agent id')}.report"


def agent_control(agent_id: str) -> str:
    return f"{PREFIX}.agent.{token(agent_id, 'agent id')}.control"


def trigger(name: str) -> str:
    return f"{PREFIX}.trigger.{token(name, 'trigger name')}"


def trigger_name(subject: str) -> str | None:
    """The trigger name a trigger subject names (`partout.trigger.<name>`), or None."""
    prefix, _, name = subject.rpartition(".")
    return name if prefix == f"{PREFIX}.trigger" and _TOKEN.match(name) else None


def node_event(agent_id: str, module: str, status: str) -> str:
    """Events republished for integrations: `partout.node.<id>.<module>.<status>`."""
    return f"{PREFIX}.node.{token(agent_id, 'agent id')}.{token(module, 'module')}.{token(status, 'status')}"


def node_events_matching(agent_id: str | None, module: str | None, status: str | None) -> str:
    """The node-event subject a filter subscribes to: `*` for each part it leaves open."""
    return (f"{PREFIX}.node.{'*' if agent_id is None else token(agent_id, 'agent id')}"
            f".{'*' if module is None else token(module, 'module')}.{'*' if status is None else token(status, 'status')}")


def policy_key(environment: str) -> str:
    """The key of an environment's policy in the POLICY_BUCKET KV bucket."""
    return token(environment, "environment")


def policy_updates(environment: str) -> str:
    """Where the policy bucket republishes each change of an environment's key (core NATS),
    so an agent can follow its policy with a plain, permission-scoped subscription."""
    return f"{PREFIX}.policy.{policy_key(environment)}"


POLICY_UPDATES_ALL = "partout.policy.*"


def policy_kv_subject(environment: str) -> str:
    """The subject under which the KV bucket stores an environment's key (for permissions)."""
    return f"$KV.{POLICY_BUCKET}.{policy_key(environment)}"


def policy_direct_get(environment: str) -> str:
    """The JetStream direct get of an environment's current policy: the key is in the subject,
    so a permission can name exactly one environment (no STREAM.INFO, no consumer needed)."""
    return f"$JS.API.DIRECT.GET.KV_{POLICY_BUCKET}.{policy_kv_subject(environment)}"


def inbox_prefix(identity: str) -> str:
    """A per-identity inbox prefix (nats-py `inbox_prefix`) so replies to one agent are
    readable by that agent only: `_INBOX_<id>`."""
    return f"{DEFAULT_INBOX}_{token(identity, 'identity')}"


def inbox_all(identity: str) -> str:
    return f"{inbox_prefix(identity)}.>"


_REPLY = re.compile(r"^_INBOX_([A-Za-z0-9_\-]+)\.[A-Za-z0-9_\-.]+$")


def inbox_owner(reply: str) -> str | None:
    """The identity whose inbox `reply` is in (`_INBOX_<identity>.<token>...`), or None for any
    other subject, wildcards included: the master answers only into such inboxes."""
    found = _REPLY.match(reply)
    if found is None or ".." in reply or reply.endswith("."):
        return None
    return found.group(1)


INVENTORY_REQUESTS_ALL = "partout.inventory.*"


def inventory_request(agent_id: str) -> str:
    """Where an agent asks the master's inventory (`p2.nodes`), request/reply:
    `partout.inventory.<agent id>`. Only that agent may publish there (its permissions name
    it), so the subject proves who asks; the answer goes only into that agent's inbox."""
    return f"{PREFIX}.inventory.{token(agent_id, 'agent id')}"


def inventory_requester(subject: str) -> str | None:
    """The agent id of an inventory request subject, or None when it is not one."""
    prefix, _, agent_id = subject.rpartition(".")
    return agent_id if prefix == f"{PREFIX}.inventory" and _TOKEN.match(agent_id) else None


# each master tells the others of every batch it stored, and of every advice it sent to an
# agent (core NATS, no queue group): only the master identity may publish under partout.master.
EVENTS_COUNTED = "partout.master.counted"
ADVICE_SENT = "partout.master.advised"


def master_api() -> str:
    """Operator requests to the masters (queue group), answered with an OperatorReply."""
    return "partout.master.api"


# -- the master's side: parsing what agents send, and the servers' system API ------------

AUTH_CALLOUT = "$SYS.REQ.USER.AUTH"  # where nats-server asks the auth callout about a client
SERVER_CONNZ = "$SYS.REQ.SERVER.PING.CONNZ"  # every server: its connections (system account)
SERVER_JSZ = "$SYS.REQ.SERVER.PING.JSZ"  # every server: its JetStream state (system account)
SERVER_REQUESTS_ALL = "$SYS.REQ.SERVER.>"  # what the master's system connection may ask
DEFAULT_INBOX_ALL = f"{DEFAULT_INBOX}.>"


def server_kick(server_id: str) -> str:
    """Close a client connection on one server: `$SYS.REQ.SERVER.<id>.KICK`."""
    return f"$SYS.REQ.SERVER.{token(server_id, 'server id')}.KICK"


def unique_inbox(prefix: str = DEFAULT_INBOX) -> str:
    """A fresh reply subject under `prefix` (what a subscription gathering many answers listens on)."""
    import uuid

    return f"{prefix}.{uuid.uuid4().hex}"


def approval_inbox(public_key: str) -> str:
    """Where a pending agent hears of its approval: `_INBOX_<public key>.approved`, inside the
    only inbox its pending permissions let it read."""
    return f"{inbox_prefix(public_key)}.approved"


_AGENT_SUBJECT = re.compile(r"^partout\.agent\.([A-Za-z0-9_\-]+)\.(facts|report|events)$")


def agent_of(subject: str) -> str | None:
    """The agent id of `partout.agent.<id>.facts|report|events`, or None for any other subject."""
    found = _AGENT_SUBJECT.match(subject)
    return found.group(1) if found is not None else None


def policy_environment(subject: str) -> str | None:
    """The environment of a policy update subject (`partout.policy.<environment>`), or None."""
    prefix, _, environment = subject.rpartition(".")
    return environment if prefix == f"{PREFIX}.policy" and _TOKEN.match(environment) else None


# -- the agent's policy feed ------------------------------------------------------------------

POLICY_STREAM = f"KV_{POLICY_BUCKET}"


def policy_update_environment(stream: str, subject: str) -> str | None:
    """The environment a republished policy update is about, read from its `Nats-Stream` and
    `Nats-Subject` headers; None when they do not name the policy bucket's key of one."""
    prefix = f"$KV.{POLICY_BUCKET}."
    if stream != POLICY_STREAM or not subject.startswith(prefix):
        return None
    environment = subject[len(prefix):]
    return environment if _TOKEN.match(environment) else None
