"""The embedded engine's control API: served on loopback, announced to the local operator.

`arbiter run` has no cluster to issue tokens, so it verifies with the configured `auth`
keys when there are any and otherwise with a secret made for this run alone; it mints an
admin token for the user who started it and writes address and token to the endpoint file
(mode 0600), which `arbiter ctl` reads. The file goes when the run ends. Every call still
passes the same JWT interceptor as a cluster's control service, so roles and audit are the
same in both topologies.
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import secrets
from pathlib import Path

from arbiter.control.client import Endpoint, endpoint_file, write_endpoint
from arbiter.control.service import ControlServicer
from arbiter.platform.auth import JwtServerInterceptor, Role, TokenVerifier, mint_token
from arbiter.platform.config import AuthConfig, ControlConfig
from arbiter.platform.rpc import start_server
from arbiter.v1 import control_pb2_grpc

log = logging.getLogger(__name__)


def local_operator() -> str:
    """The token's subject: who started the run, on which machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = f"uid-{os.getuid()}"
    return f"{user}@{os.uname().nodename}"


async def serve_local_control(servicer: ControlServicer, control: ControlConfig, auth: AuthConfig,
                              stack: contextlib.AsyncExitStack) -> tuple[Endpoint, Path]:
    """Serve `servicer` on `control.host:port` until `stack` closes; returns the endpoint
    announced and the file it was written to."""
    configured = auth.hs256_secret.get_secret_value()
    secret = configured or secrets.token_urlsafe(48)
    # an RS256-only configuration has no key here to mint with: this run adds its own
    # HS256 secret, which only the endpoint file's token is signed with
    verifier = TokenVerifier(secret, auth.public_key(), auth.leeway_seconds)
    server, port = await start_server(
        control.port, [lambda s: control_pb2_grpc.add_ControlServicer_to_server(servicer, s)],
        (JwtServerInterceptor(verifier),), host=control.host)
    stack.push_async_callback(server.stop, 1)
    tenant = servicer.tenant
    token = mint_token(secret, subject=local_operator(), tenant=tenant.tenant_id,
                       role=Role.ADMIN, ttl_seconds=control.token_ttl_seconds)
    endpoint = Endpoint(f"{control.host}:{port}", token, tenant.tenant_id, tenant.tier)
    path = Path(control.endpoint_file) if control.endpoint_file else endpoint_file(
        tenant.tenant_id)
    write_endpoint(path, endpoint)
    stack.callback(_remove, path, endpoint)
    return endpoint, path


def _remove(path: Path, endpoint: Endpoint) -> None:
    """Remove the endpoint file unless another run has announced itself there since."""
    with contextlib.suppress(OSError, ValueError):
        if endpoint.token in path.read_text():
            path.unlink()
