"""Partout's JetStream streams and KV buckets, created idempotently (safe on every start).

- events stream: `partout.agent.*.events`, file storage, retention by age and size,
  duplicate window for `Nats-Msg-Id` so a retried publish is stored once
- reports stream: `partout.agent.*.report`
- policy bucket: KV, one key per environment, history kept
- nonce bucket: KV of the operator requests' nonces, each kept `nonce_max_age` (two
  signature windows), so every master of a group refuses a request another one answered
Replicas: what the caller asks (the master asks min(3, cluster size)); an existing stream
or bucket is updated in place to that count, raised when the cluster has grown. With
`keep_higher` (the master's automatic choice) a stream that already has more replicas
keeps them: an answer about the cluster's size never lowers them by itself.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from partout import subjects
from partout.errors import BusError
from partout.retry import Backoff, retry_until

if TYPE_CHECKING:
    from nats.js import api
    from nats.js.client import JetStreamContext

log = logging.getLogger(__name__)

DAY = 24 * 3600


def ready_retry() -> Backoff:
    """While a cluster elects its JetStream leader: 0.1 s doubling up to 1 s between attempts."""
    return Backoff(first=0.1, limit=1.0)


class StreamLimits(BaseModel):
    """Retention of Partout's streams; the defaults suit a fleet of thousands of agents."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events_max_age: float = 7 * DAY
    events_max_bytes: int = 1 << 30
    reports_max_age: float = 31 * DAY
    reports_max_bytes: int = 1 << 30
    duplicate_window: float = 120.0
    policy_history: int = 16
    nonce_max_age: float = 600.0  # 2 x wire.fleet.SIGNATURE_MAX_AGE: a signed request's whole validity


async def ensure_streams(
    js: JetStreamContext, *, replicas: int = 1, limits: StreamLimits | None = None, timeout: float = 30.0,
    keep_higher: bool = False,
) -> None:
    """Create or update the streams and the policy bucket; retries while a cluster elects its leader."""
    from nats.js import api
    from nats.js.errors import BadRequestError

    limits = limits or StreamLimits()
    replicas = max(1, min(3, replicas))
    streams = [
        api.StreamConfig(
            name=subjects.EVENTS_STREAM, subjects=[subjects.AGENT_EVENTS_ALL], storage=api.StorageType.FILE,
            max_age=limits.events_max_age, max_bytes=limits.events_max_bytes, num_replicas=replicas,
            duplicate_window=limits.duplicate_window, discard=api.DiscardPolicy.OLD,
        ),
        api.StreamConfig(
            name=subjects.REPORTS_STREAM, subjects=[subjects.AGENT_REPORTS_ALL], storage=api.StorageType.FILE,
            max_age=limits.reports_max_age, max_bytes=limits.reports_max_bytes, num_replicas=replicas,
            duplicate_window=limits.duplicate_window, discard=api.DiscardPolicy.OLD,
        ),
    ]

    async def create_or_update() -> None:
        for config in streams:
            try:
                await js.add_stream(config)
            except BadRequestError:
                # exists with another config (e.g. new limits, more replicas): update it in place
                current = await js.stream_info(str(config.name))
                await _update(js, config, current.config, keep_higher)
        await _ensure_policy_bucket(js, replicas, limits, keep_higher)
        await _ensure_nonce_bucket(js, replicas, limits, keep_higher)

    def not_ready(error: Exception, delay: float) -> None:
        log.debug("JetStream not ready yet", extra={"error": str(error), "retry_in": round(delay, 2)})

    try:
        # no meta leader yet, timeouts while a cluster forms: try again; a refused config: not
        await retry_until(create_or_update, backoff=ready_retry(), deadline=time.monotonic() + timeout,
                          retryable=lambda error: not isinstance(error, BadRequestError), on_retry=not_ready)
    except BadRequestError as exc:
        raise BusError(f"cannot create Partout's JetStream streams: {exc.description}") from exc
    except Exception as exc:
        raise BusError(f"JetStream not ready after {timeout:.0f} s: {exc}") from exc


async def _update(js: JetStreamContext, config: api.StreamConfig, current: api.StreamConfig,
                  keep_higher: bool) -> None:
    wanted = config.num_replicas or 1
    if keep_higher and (current.num_replicas or 1) > wanted:
        config.num_replicas = current.num_replicas
    elif (current.num_replicas or 1) != wanted:
        log.info("stream replicas changed", extra={"stream": config.name, "from": current.num_replicas or 1,
                                                   "to": wanted})
    await js.update_stream(config)


async def _ensure_policy_bucket(js: JetStreamContext, replicas: int, limits: StreamLimits,
                                keep_higher: bool) -> None:
    from nats.js import api
    from nats.js.errors import BadRequestError

    try:
        # direct gets (`$JS.API.DIRECT.GET.<stream>.<subject>`) name the key in the subject, so
        # an agent's permissions can allow its environment's key and nothing else
        await js.create_key_value(
            bucket=subjects.POLICY_BUCKET, history=limits.policy_history, replicas=replicas, direct=True,
            republish=_policy_republish(),
            storage=api.StorageType.FILE, description="Signed policy bundles, one key per environment",
        )
    except BadRequestError:
        info = await js.stream_info(f"KV_{subjects.POLICY_BUCKET}")
        config = copy.deepcopy(info.config)
        config.allow_direct = True
        config.republish = _policy_republish()
        config.max_msgs_per_subject = limits.policy_history
        config.num_replicas = replicas
        await _update(js, config, info.config, keep_higher)


async def _ensure_nonce_bucket(js: JetStreamContext, replicas: int, limits: StreamLimits,
                               keep_higher: bool) -> None:
    from nats.js import api
    from nats.js.errors import BadRequestError

    try:
        await js.create_key_value(
            bucket=subjects.NONCE_BUCKET, history=1, ttl=limits.nonce_max_age, replicas=replicas,
            storage=api.StorageType.FILE, description="Nonces of signed operator requests (replay guard)",
        )
    except BadRequestError:
        info = await js.stream_info(f"KV_{subjects.NONCE_BUCKET}")
        config = copy.deepcopy(info.config)
        config.max_age = limits.nonce_max_age
        config.num_replicas = replicas
        await _update(js, config, info.config, keep_higher)


def _policy_republish() -> api.RePublish:
    from nats.js import api

    # every put/delete of an environment's key is also sent to partout.policy.<environment>
    return api.RePublish(src=f"$KV.{subjects.POLICY_BUCKET}.*", dest=f"{subjects.PREFIX}.policy.{{{{wildcard(1)}}}}")
