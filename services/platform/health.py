"""Every service's HTTP side door: liveness, readiness and Prometheus metrics on one port.

Kubernetes probes `/healthz` (the process is alive) and `/readyz` (it has finished starting:
bus consumers assigned, servers bound); Prometheus scrapes `/metrics` (OpenMetrics with trace exemplars when it asks for it).
"""

from __future__ import annotations

from aiohttp import web

from arbiter.platform.telemetry.metrics import render


class HealthServer:
    def __init__(self, host: str, port: int, service: str) -> None:
        self.host, self.port, self.service = host, port, service
        self.ready = False
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"service": self.service, "status": "alive"})

    async def _readyz(self, _: web.Request) -> web.Response:
        status = 200 if self.ready else 503
        return web.json_response({"service": self.service, "ready": self.ready}, status=status)

    async def _metrics(self, request: web.Request) -> web.Response:
        body, content_type = render(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})
