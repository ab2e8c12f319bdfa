"""In-process transport to an emulated venue: the gateway's HTTP requests and WebSocket
frames are handed to the emulator's handlers directly, as bytes, with no sockets. This keeps
the embedded topology deterministic while the gateway still speaks the venue's wire format.
"""

from __future__ import annotations

from arbiter.emulators.venue import EmulatedVenue, WsSession, WsSink
from arbiter.platform.transport import LinkState, WsHeaders


class InProcessConnection:
    def __init__(self, session: WsSession) -> None:
        self._session = session

    async def send(self, frame: bytes) -> None:
        await self._session.send(frame)

    async def close(self) -> None:
        self._session.close()


class InProcessLink:
    """Implements `arbiter.platform.transport.VenueTransport` against an emulator object."""

    def __init__(self, venue: EmulatedVenue) -> None:
        self.venue = venue

    async def request(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, bytes]:
        response = await self.venue.handle_http(method, path, query or {}, headers or {}, body)
        return response.status, response.body

    async def connect(
        self,
        channel: str,
        on_frame: WsSink,
        headers: WsHeaders | None = None,
        on_state: LinkState | None = None,
    ) -> InProcessConnection:
        """The venue checks the handshake headers as it would on a socket. An in-process
        channel never drops, so `on_state` is never told anything."""
        handshake = await headers() if headers is not None else {}
        if not self.venue.ws_authorized(handshake):
            raise PermissionError(f"{self.venue.venue} refused the {channel} handshake")
        return InProcessConnection(await self.venue.connect(channel, on_frame))
