"""`dlxc certs check-expiration|renew`: a control-plane host's certificates (as kubeadm's)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from dlxc.cli import console
from dlxc.cli.common import fail

__all__ = ["certs_app"]

certs_app = typer.Typer(help="Check and renew this host's certificates.", no_args_is_help=True)

STATE_DIR = typer.Option(None, "--state-dir", envvar="DLXC_STATE_DIR", help="As given to init or join.")


def _left(delta: dt.timedelta) -> str:
    if delta.total_seconds() <= 0:
        return "expired"
    return f"{delta.days}d" if delta.days else f"{int(delta.total_seconds() // 3600)}h"


@certs_app.command("check-expiration")
def check_expiration(state_dir: Path = STATE_DIR) -> None:
    """When each certificate of this host expires, when it is due for renewal (2/3 of its life), and who renews it."""
    from dlxc.cluster.certs import CertsError, certificates
    from dlxc.cluster.host import HostLayout

    try:
        found = certificates(HostLayout.of(state_dir).pki)
    except CertsError as exc:
        fail(str(exc))
    now = dt.datetime.now(dt.UTC)
    rows = [[c.name, c.lifetime.not_after.strftime("%Y-%m-%d %H:%M UTC"), _left(c.lifetime.left(now)),
             "yes" if c.lifetime.due(now) and c.name != "ca" else "no", c.renewed_by] for c in found]
    console.print_table(["CERTIFICATE", "EXPIRES", "RESIDUAL", "RENEWAL DUE", "RENEWED BY"], rows)


@certs_app.command("renew")
def renew(
    names: list[str] = typer.Argument(..., help="apiserver, apiserver-kubelet-client, etcd-peer, or all."),
    state_dir: Path = STATE_DIR,
) -> None:
    """Issue the apiserver's and etcd's certificates again from the CA on this host (a control-plane
    host); the running apiserver loads them within seconds, etcd on its next peer connection."""
    from dlxc.cluster.certs import RENEWABLE, CertsError
    from dlxc.cluster.certs import renew as renew_one
    from dlxc.cluster.host import HostLayout

    pki = HostLayout.of(state_dir).pki
    wanted = [n for n in RENEWABLE if (pki / f"{n}.crt").is_file()] if names == ["all"] else names
    for name in wanted:
        try:
            done = renew_one(pki, name)
        except CertsError as exc:
            fail(str(exc))
        console.out(f"certificate {name} renewed: valid until {done.lifetime.not_after.strftime('%Y-%m-%d %H:%M UTC')}")
