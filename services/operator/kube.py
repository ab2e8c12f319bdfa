"""A small asyncio Kubernetes client over aiohttp, authenticated by kopf's login result.

kopf already depends on aiohttp and resolves credentials (service account or kubeconfig) in its
login handler; reusing that `kopf.ConnectionInfo` avoids a second client library and a second
credential discovery that could disagree with kopf's. Only the verbs the reconciler needs exist.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from collections.abc import Mapping
from typing import Any

import aiohttp
import kopf

from arbiter.operator.certificates import TLS_KINDS
from arbiter.operator.children import CHILD_KINDS, NAMED_KINDS

Manifest = dict[str, Any]


class KubeError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _data(value: str | bytes) -> bytes:
    """kubeconfig `*-data` fields are base64; kopf passes them through as-is."""
    raw = value.encode() if isinstance(value, str) else value
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        return raw


def _ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    context = ssl.create_default_context(
        cafile=info.ca_path,  # type: ignore[arg-type]
        cadata=_data(info.ca_data).decode() if info.ca_data else None,
    )
    if info.certificate_path or info.certificate_data:
        with tempfile.NamedTemporaryFile() as cert, tempfile.NamedTemporaryFile() as key:
            # ssl only loads client certificates from files.
            if info.certificate_data:
                cert.write(_data(info.certificate_data))
                cert.flush()
            if info.private_key_data:
                key.write(_data(info.private_key_data))
                key.flush()
            context.load_cert_chain(
                info.certificate_path or cert.name,  # type: ignore[arg-type]
                info.private_key_path or (key.name if info.private_key_data else None),  # type: ignore[arg-type]
            )
    return context


def resource_path(api_version: str, plural: str, namespace: str, name: str | None = None) -> str:
    """The REST path of a namespaced resource collection or object."""
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{base}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def manifest_path(manifest: Mapping[str, Any], with_name: bool = True) -> str:
    """The REST path of a child manifest (its kind must be one the operator manages)."""
    api_version, plural = {**CHILD_KINDS, **NAMED_KINDS, **TLS_KINDS}[manifest["kind"]]
    meta = manifest["metadata"]
    return resource_path(api_version, plural, meta["namespace"], meta["name"] if with_name else None)


class KubeClient:
    """Holds one aiohttp session; the login handler swaps credentials in when they change."""

    def __init__(self) -> None:
        self._info: kopf.ConnectionInfo | None = None
        self._session: aiohttp.ClientSession | None = None

    async def login(self, info: kopf.ConnectionInfo) -> None:
        """Use new credentials from now on (kopf re-logs in when a token expires)."""
        await self.close()
        headers = {"Accept": "application/json"}
        if info.token:
            headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        auth = aiohttp.BasicAuth(info.username, info.password or "") if info.username else None
        self._info = info
        self._session = aiohttp.ClientSession(
            base_url=info.server.rstrip("/") + "/",
            headers=headers,
            auth=auth,
            connector=aiohttp.TCPConnector(ssl=_ssl_context(info)),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> Manifest | None:
        """Perform one call; None means 404 (the usual "not there" answer)."""
        if self._session is None:
            raise KubeError(0, "not logged in yet")
        async with self._session.request(
            method,
            path.lstrip("/"),
            json=body,
            headers={"Content-Type": content_type},
        ) as response:
            if response.status == 404:
                return None
            if response.status >= 400:
                raise KubeError(response.status, await response.text())
            result: Manifest = await response.json(content_type=None)
            return result

    async def get(self, path: str) -> Manifest | None:
        return await self._request("GET", path)

    async def create(self, manifest: Manifest) -> Manifest | None:
        return await self._request("POST", manifest_path(manifest, with_name=False), manifest)

    async def merge_patch(self, path: str, patch: Manifest) -> Manifest | None:
        return await self._request("PATCH", path, patch, "application/merge-patch+json")

    async def delete(self, path: str) -> None:
        await self._request("DELETE", path, {"propagationPolicy": "Background"})

    async def list(self, path: str, labels: Mapping[str, str]) -> list[Manifest]:
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        result = await self._request("GET", f"{path}?labelSelector={selector}")
        items: list[Manifest] = (result or {}).get("items", [])
        # Filter here too: the selector is an optimisation, ownership is decided by labels.
        return [
            item
            for item in items
            if all(item.get("metadata", {}).get("labels", {}).get(k) == v for k, v in labels.items())
        ]
