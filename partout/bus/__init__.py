"""The one bus of a process: every NATS connection it makes goes through here.

- `messages`: the typed messages and options (what callers send, what subscribers get);
- `actor`: `BusActor`, which owns a nats-py connection on its own asyncio loop thread;
- `facade`: `Bus`, the typed handle non-actor code holds (results as pykka futures).

Import the part you need (`from partout.bus.facade import Bus`): this package imports
nothing itself, so that commands which never touch NATS do not pay for nats-py.
"""
