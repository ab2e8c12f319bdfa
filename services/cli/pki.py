"""`arbiter pki`: the certificates of a plane's mutual TLS (`tls.*`, `platform.peers`).

For a deployment without cert-manager (a VM, a laptop running `arbiter serve` processes):
`init` makes the plane's CA and one certificate per service; `issue` adds one later (a new
venue's gateway, a renewal). Private keys are written readable by their owner only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from arbiter.platform.cli_tools import choices
from arbiter.platform.config import services
from arbiter.platform.peers import CERT_DAYS, Issued, issue_ca, issue_service_cert
from arbiter.platform.tenancy import InvalidTenant, validate_tenant_id

if TYPE_CHECKING:
    ServiceName = str
else:
    ServiceName = choices("ServiceName", services())

app = typer.Typer(help="Service certificates for mutual TLS between services.",
                  no_args_is_help=True)

HostsOption = Annotated[list[str] | None, typer.Option(
    "--host", help="DNS name or IP the service is reached at; repeatable "
                   "[default: 127.0.0.1, localhost].")]
DaysOption = Annotated[int, typer.Option(help="Validity in days.", min=1, max=3650)]


def _write(path: Path, data: bytes, private: bool) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _tenant(value: str) -> str:
    try:
        return validate_tenant_id(value)
    except InvalidTenant as exc:
        raise typer.BadParameter(str(exc)) from None


def _issue(folder: Path, ca: Issued, service: str, tenant: str, hosts: list[str],
           days: int) -> dict[str, str]:
    issued = issue_service_cert(ca, service, tenant, hosts, days)
    cert, key = folder / f"{service}.pem", folder / f"{service}-key.pem"
    _write(cert, issued.cert_pem, private=False)
    _write(key, issued.key_pem, private=True)
    return {"service": service, "tenant": tenant, "cert_path": str(cert), "key_path": str(key)}


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Where to write (created; must not hold a CA).")],
    tenant: Annotated[str, typer.Option(help="The tenant every certificate works for.",
                                        callback=_tenant)],
    host: HostsOption = None,
    days: DaysOption = CERT_DAYS,
) -> None:
    """A new CA and one certificate for every service of the plane."""
    if (folder / "ca.pem").exists():
        typer.secho(f"error: {folder / 'ca.pem'} exists; `arbiter pki issue` adds to it",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = issue_ca(f"arbiter-{tenant}-ca", days)
    _write(folder / "ca.pem", ca.cert_pem, private=False)
    _write(folder / "ca-key.pem", ca.key_pem, private=True)
    issued = [_issue(folder, ca, name, tenant, host or ["127.0.0.1", "localhost"], days)
              for name in services()]
    typer.echo(json.dumps({"ca_path": str(folder / "ca.pem"), "certificates": issued},
                          indent=2))


@app.command()
def issue(
    folder: Annotated[Path, typer.Argument(help="The folder `init` wrote.")],
    service: Annotated[ServiceName, typer.Option(help="The service the certificate names.")],
    tenant: Annotated[str, typer.Option(help="The tenant it works for.", callback=_tenant)],
    host: HostsOption = None,
    days: DaysOption = CERT_DAYS,
) -> None:
    """One more certificate from the folder's CA (replaces the service's old one)."""
    try:
        ca = Issued((folder / "ca.pem").read_bytes(), (folder / "ca-key.pem").read_bytes())
    except OSError as exc:
        typer.secho(f"error: {folder}: no CA ({exc.strerror}); run `arbiter pki init`",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(_issue(folder, ca, str(service), tenant,
                                 host or ["127.0.0.1", "localhost"], days), indent=2))
