"""1,000 malformed or oversized enrolment and operator messages (random bytes, bad JSON,
wrong types, huge payloads up to the server's maximum): each is refused with a reason into
the sender's own inbox, nothing is stored, and the master serves real agents afterwards."""

from __future__ import annotations

import asyncio
import json
import random

from securityenv import (
    Fleet, connect, legitimate_traffic_works, new_key, new_key_from_seed, operator_seed, public, run, seed_of,
)

from partout import subjects
from partout.bus.connection import round_trip
from partout.wire import decode, encode
from partout.wire.fleet import EnrolReply, EnrolRequest, OperatorReply, OperatorRequest

SERVER_MAX_PAYLOAD = 8 * 1024 * 1024  # partout-nats' max_payload
KEYS = 100
PER_KEY = 5  # within the per-key burst, so every message reaches the parser


def _wrong_types(signed: dict[str, object], generator: random.Random) -> bytes:
    field = generator.choice(sorted(signed))
    value = generator.choice([choice for choice in (12, -1.5, None, [], {}, "x" * 300, True, [[[]]], {"$gt": ""})
                              if choice != signed[field]])  # the same value would leave a valid request
    return json.dumps({**signed, field: value}).encode()


def fuzz_payloads(count: int, signed: bytes, generator: random.Random) -> list[bytes]:
    """`count` payloads of every kind; none of them a valid request."""
    template = json.loads(signed)
    kinds = [
        lambda: generator.randbytes(generator.randint(0, 2000)),
        lambda: signed[: generator.randint(0, len(signed) - 1)],  # truncated JSON
        lambda: b"{" * generator.randint(1, 5000),  # deep or unclosed nesting
        lambda: _wrong_types(template, generator),
        lambda: json.dumps({**template, "v": 99}).encode(),  # a version from the future
        lambda: json.dumps({**template, "signature": "A" * 88}).encode(),
        lambda: json.dumps(generator.choice([[], "text", 7, None])).encode(),
        lambda: signed.replace(b'"', b"'"),
    ]
    payloads = [kinds[index % len(kinds)]() for index in range(count - 3)]
    huge = [SERVER_MAX_PAYLOAD - 4096, 2 * 1024 * 1024, 300 * 1024]
    return payloads + [signed[:-1] + b" " * size + b"}" for size in huge]


async def _ask_all(urls: list[str], seed: str, inbox: str, subject: str, payloads: list[bytes]) -> list[bytes]:
    """Publish each payload with a reply in our own inbox; the answers that came back."""
    hostile = await connect(urls, seed, inbox)
    answers: list[bytes] = []
    done = asyncio.Event()

    async def collect(message: object) -> None:
        answers.append(message.data)  # type: ignore[attr-defined]
        if len(answers) == len(payloads):
            done.set()

    await hostile.connection.subscribe(f"{inbox}.fuzz", cb=collect)
    for payload in payloads:
        await hostile.connection.publish(subject, payload, reply=f"{inbox}.fuzz")
    await round_trip(hostile.connection)
    try:
        await asyncio.wait_for(done.wait(), timeout=60)
    except asyncio.TimeoutError:
        pass
    await hostile.connection.close()
    return answers


def test_a_thousand_malformed_requests_leave_the_master_serving(fleet: Fleet) -> None:
    generator = random.Random(8)
    assert fleet.master is not None
    first = new_key()
    template = encode(EnrolRequest(public_key=public(first), hostname="auto-1").signed_by(first))
    payloads = fuzz_payloads(KEYS * PER_KEY, template, generator)
    enrolment_answers: list[bytes] = []
    for index in range(KEYS):  # from as many connections, each on its own enrolment subject
        key = first if index == 0 else new_key()
        me = public(key)
        enrolment_answers += run(_ask_all(fleet.urls, seed_of(key), subjects.inbox_prefix(me), subjects.enrol(me),
                                          payloads[index * PER_KEY:(index + 1) * PER_KEY]))
    operator = new_key_from_seed(operator_seed(fleet))
    signed = encode(OperatorRequest(public_key=public(operator), verb="agents.list").signed_by(operator))
    operator_payloads = fuzz_payloads(500, signed, generator)
    operator_answers = run(_ask_all(fleet.urls, operator_seed(fleet), subjects.inbox_prefix(public(operator)),
                                    subjects.master_api(), operator_payloads))

    assert len(enrolment_answers) == KEYS * PER_KEY
    replies = [decode(EnrolReply, answer) for answer in enrolment_answers]
    assert all(reply is not None and reply.status == "refused" and reply.reason for reply in replies), replies
    assert len(operator_answers) == len(operator_payloads)
    refusals = [decode(OperatorReply, answer) for answer in operator_answers]
    assert all(reply is not None and not reply.ok and reply.error for reply in refusals), [r for r in refusals if r is None or r.ok]
    counts = fleet.master.security.counts()
    refused = sum(counts.get(f"enrol.{reason}", 0) for reason in ("malformed", "oversized", "bad-signature",
                                                                      "key-mismatch"))
    assert refused == KEYS * PER_KEY
    assert fleet.master.store.agents() == [] and fleet.master.store.enrolments() == []
    assert fleet.operator.agents() == []
    legitimate_traffic_works(fleet, "prod-after-fuzz")
