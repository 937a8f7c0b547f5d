"""The master daemon: enrolment and approval, policy publisher, report ingest, store.

    from partout.master import Master, load_config
    master = Master(load_config(Path("config/master.toml"))).start()
    master.stop()

Pieces (the actor tree is drawn in daemon.py; each child restarted by supervisor.py):
  daemon.py          Master: starts the tree, the buses, the subscriptions
  supervisor.py      one-for-one Supervisor, SupervisedActor (the children's base), tell_later
  address.py         Address: reaches a child's current incarnation, keeps messages meanwhile
  callout.py         auth callout answers from the store (master, operator, agent, pending)
  enrolment.py       `partout.enrol`: checks, auto-approve rules, pending
  policy.py          compile each environment, publish its signed bundle to the policy KV
  publish_retry.py   a refused publish retried with the one Backoff
  environments.py    recursive watch of the environments dir, debounced
  ingest.py          facts (core NATS) and reports (durable JetStream consumer)
  operator_api.py    `partout.master.api`: the operator CLI's verbs
  kick.py            disconnect a revoked agent through the system account
  replicas.py        stream replicas from the cluster's size
  store_actor.py     the one thread that talks to the store; StoreHandle, its typed Store
  config.py          MasterConfig, AutoApproveRule, load_config

Kept import-free (names resolve lazily) so that `partout agent` and the CLI do not pay
for master code."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # lazily, so importing partout.master.store does not load the daemon
    if name == "Master":
        from partout.master.daemon import Master

        return Master
    if name in ("MasterConfig", "AutoApproveRule", "load_config"):
        from partout.master import config

        return getattr(config, name)
    raise AttributeError(name)
