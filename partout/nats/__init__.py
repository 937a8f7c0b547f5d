"""partout-nats: the NATS backbone (server/cluster launcher, keys, accounts, auth callout, streams)."""
