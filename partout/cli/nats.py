"""`partout-nats`: run the NATS backbone (one server or a local cluster), or write the
configs of a multi-host cluster.

    partout-nats                         one server, JetStream, keys in <state>/nats
    partout-nats --cluster 3             three nodes on this machine (ports 4222-4224, routes 6222-6224);
                                         a node that dies is restarted while the others serve
    partout-nats --print-creds           what `partout master` needs to connect (JSON)
    partout-nats config --cluster a,b,c --out DIR
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from partout.errors import PartoutError
from partout.nats.config import NodeConfig, TlsFiles, render
from partout.nats.keys import load_or_create
from partout.nats.discovery import connection_details, write_backbone_file
from partout.nats.launcher import DEFAULT_CLUSTER_PORT, DEFAULT_PORT, Backbone, plan_nodes, start_backbone
from partout.nats.supervisor import Supervisor
from partout.state import default_state_dir, ensure_state_dir, write_secret
from partout.statelock import StateDirInUse, lock_state_dir

log = logging.getLogger(__name__)

__all__ = ["cli", "main"]


def nats_state_dir(given: Path | None) -> Path:
    return given if given is not None else default_state_dir() / "nats"


def _tls(cert: Path | None, key: Path | None, ca: Path | None) -> TlsFiles | None:
    if cert is None and key is None:
        if ca is not None:
            raise click.UsageError("--tls-ca needs --tls-cert and --tls-key")
        return None
    if cert is None or key is None:
        raise click.UsageError("TLS needs both --tls-cert and --tls-key")
    return TlsFiles(cert=cert, key=key, ca=ca)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"partout-nats: error: {message}", err=True)
    sys.exit(code)


def _catch_stop_signals() -> threading.Event:
    """SIGTERM/SIGINT set the returned event; caught before the servers start, so a signal
    during start-up still stops them cleanly."""
    stopping = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stopping


def _run(backbone: Backbone, stopping: threading.Event) -> int:
    """Serve until SIGTERM/SIGINT (clean stop, exit 0); a node that exits is started again
    while the others serve; exit 1 once every node has been given up."""
    code = Supervisor(backbone).run(stopping)
    if code:
        click.echo("partout-nats: error: every nats-server node failed repeatedly; stopped", err=True)
    return code


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--state-dir", type=click.Path(path_type=Path), help="Keys, configs and JetStream data "
              "[default: <partout state dir>/nats].")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True,
              help="Client port (node i of a cluster: port + i; 0 picks free ports).")
@click.option("--cluster", "cluster_size", type=click.IntRange(1, 9), default=1, show_default=True,
              help="Number of nodes to run on this machine (routes, JetStream R3).")
@click.option("--cluster-port", type=int, default=None,
              help=f"Route port of the first node (node i: cluster-port + i) [default: {DEFAULT_CLUSTER_PORT}; "
                   "with --port 0, free ports].")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With it, clients must present a certificate signed by this CA.")
@click.option("--print-creds", is_flag=True, help="Print the master's connection details (JSON) and exit.")
@click.option("--show-seeds", is_flag=True, help="With --print-creds: include the seeds themselves.")
@click.option("--debug", is_flag=True, help="Log debug messages.")
@click.pass_context
def cli(context: click.Context, state_dir: Path | None, host: str, port: int, cluster_size: int,
        cluster_port: int | None, tls_cert: Path | None, tls_key: Path | None, tls_ca: Path | None,
        print_creds: bool, show_seeds: bool, debug: bool) -> None:
    """Run Partout's NATS backbone in the foreground: nats-server with JetStream, Partout's
    accounts and auth callout, keys generated on first start (mode 0600 in the state dir)."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    context.ensure_object(dict)
    context.obj["state_dir"] = nats_state_dir(state_dir)
    if context.invoked_subcommand is not None:
        return
    state = nats_state_dir(state_dir)
    tls = _tls(tls_cert, tls_key, tls_ca)
    try:
        if print_creds:
            if show_seeds and sys.stdout.isatty():
                click.echo("partout-nats: printing secret seeds on a terminal, as asked", err=True)
            keys = load_or_create(state)
            nodes = plan_nodes(state, host=host, port=port, cluster_size=cluster_size,
                               cluster_port=cluster_port, tls=tls)
            scheme = "tls" if tls else "nats"
            urls = [f"{scheme}://{node.host}:{node.port}" for node in nodes]
            click.echo(json.dumps(connection_details(keys, urls, min(3, cluster_size), show_seeds=show_seeds),
                                  indent=2))
            return
        stopping = _catch_stop_signals()
        # one partout-nats per state dir: a second would rewrite the first one's configs
        lock = lock_state_dir(ensure_state_dir(state), command="partout-nats")
        backbone = start_backbone(state, host=host, port=port, cluster_size=cluster_size,
                                  cluster_port=cluster_port, tls=tls)
    except StateDirInUse as error:
        _fail(str(error), code=2)
        return
    except PartoutError as error:
        _fail(str(error))
        return
    lock.describe(nats_url=backbone.urls[0])
    write_backbone_file(state, connection_details(backbone.keys, backbone.urls, backbone.replicas))
    log.info("partout-nats ready", extra={"servers": backbone.urls, "state_dir": str(state)})
    click.echo(f"partout-nats: ready on {', '.join(backbone.urls)}; keys in {backbone.keys.directory}", err=True)
    sys.exit(_run(backbone, stopping))


@cli.command("config")
@click.option("--cluster", "hosts", required=True, help="Comma-separated host names or addresses of the nodes.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write <host>.conf into.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.option("--cluster-port", type=int, default=DEFAULT_CLUSTER_PORT, show_default=True)
@click.option("--store-dir", type=click.Path(path_type=Path), default=Path("/var/lib/partout/nats/jetstream"),
              show_default=True, help="JetStream storage on each host.")
@click.option("--tls-cert", type=click.Path(path_type=Path), help="Path of the certificate on each host.")
@click.option("--tls-key", type=click.Path(path_type=Path))
@click.option("--tls-ca", type=click.Path(path_type=Path))
@click.pass_context
def config_command(context: click.Context, hosts: str, out_dir: Path, port: int, cluster_port: int,
                   store_dir: Path, tls_cert: Path | None, tls_key: Path | None, tls_ca: Path | None) -> None:
    """Write one nats-server config per host of a multi-host cluster (run each with
    `nats-server -c <host>.conf`). Keys come from (or are made in) --state-dir."""
    names = [name.strip() for name in hosts.split(",") if name.strip()]
    if len(names) < 2 or len(set(names)) != len(names):
        raise click.UsageError("--cluster needs two or more distinct hosts, e.g. --cluster n1,n2,n3")
    tls = _tls(tls_cert, tls_key, tls_ca)
    try:
        keys = load_or_create(context.obj["state_dir"])
        ensure_state_dir(out_dir)
    except PartoutError as error:
        _fail(str(error))
        return
    routes = tuple(f"{name}:{cluster_port}" for name in names)
    for name in names:
        node = NodeConfig(name=name, host="0.0.0.0", port=port, cluster_host="0.0.0.0", cluster_port=cluster_port,
                          routes=routes, tls=tls, store_dir=store_dir)
        # 0600: it holds the cluster route password
        write_secret(out_dir / f"{name}.conf", render(node, keys).encode())
        click.echo(str(out_dir / f"{name}.conf"))
    click.echo(f"partout-nats: the master needs {keys.master.path.name}, {keys.callout_service.path.name} and "
               f"{keys.callout_issuer.path.name} from {keys.directory}", err=True)


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="partout-nats")


if __name__ == "__main__":
    main()
