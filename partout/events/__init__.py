"""The event pipeline's pure core: wire messages, the agent's aggregator, the master's
backoff math, the agent's offline spool and the store's rollup buckets.

Nothing here starts a thread, talks to NATS or reads the clock on its own: time is an
argument, so the actors that own these objects (issue 9's agent and master trees) decide
when things happen, and the tests decide what time it is.
"""
