"""The one bus of a process: every NATS connection it makes goes through here.

- `messages`: the typed messages and options (what callers send, what subscribers get);
- `facade`: `Bus`, the typed handle non-actor code holds (results as pykka futures);
- `actor`: `BusActor`, which owns the connection's asyncio loop thread and hands each
  message to the part that does the work, each owning its state:
  `connection` (connect, reconnect, refusal backoff), `pubsub` (outbox, request/reply,
  subscribe, flush), `jetstream` (acked publish, pull consumers, streams), `kv` (put, get,
  watch) and `subscriptions` (what Unsubscribe ends, by id).

Import the part you need (`from partout.bus.facade import Bus`): this package imports
nothing itself, so that commands which never touch NATS do not pay for nats-py.
"""
