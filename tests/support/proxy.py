"""A TCP proxy on loopback that breaks the connection between a client and a server at will.

Faults, switched on and off while connections are open:

- `blackhole(True)`: nothing moves in either direction and nothing is read, as when a route
  dies: senders fill their socket buffers, nobody sees a close. New connections are accepted
  and then held the same way. `blackhole(False)` lets the held bytes through again (as TCP's
  retransmissions would), to whoever still listens.
- `reset()`: every open connection is aborted with a TCP RST on both sides.
- `reset_after(n)`: the same once exactly `n` more bytes went upstream (client to server), so
  the server sees a packet cut in the middle.
- `latency(seconds)`: every chunk arrives that much later, in order, in both directions.
- `slice(size)`: bytes are forwarded `size` at a time, each piece flushed on its own.

It runs its own event loop in a named thread; the methods are called from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

_T = TypeVar("_T")
_CHUNK = 65536


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                _abort_with_reset(writer)
        for task in self.tasks:
            task.cancel()


def _abort_with_reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Listens on 127.0.0.1:`port` and forwards to 127.0.0.1:`target_port`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.connections = 0  # accepted so far
        self.bytes_up = 0  # forwarded client to server
        self.bytes_down = 0
        self._latency_s = 0.0
        self._slice: int | None = None
        self._reset_at: int | None = None  # a value of bytes_up
        self._links: set[_Link] = set()
        self._loop = asyncio.new_event_loop()
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy")

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def blackhole(self, on: bool) -> None:
        self._call(self._set_flowing(not on))

    def reset(self) -> None:
        self._call(self._reset_all())

    def reset_after(self, upstream_bytes: int) -> None:
        self._call(self._arm_reset(upstream_bytes))

    def latency(self, seconds: float) -> None:
        self._latency_s = seconds

    def slice(self, size: int | None) -> None:
        self._slice = size

    @property
    def open_links(self) -> int:
        return len(self._links)

    # -- on the proxy's loop ---------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._reset_all()
        # Connections still held by a blackhole, and pipes winding down.
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _set_flowing(self, flowing: bool) -> None:
        assert self._flowing is not None
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _reset_all(self) -> None:
        for link in list(self._links):
            link.abort()
        self._links.clear()

    async def _arm_reset(self, upstream_bytes: int) -> None:
        self._reset_at = self.bytes_up + upstream_bytes

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        link = _Link(client=writer)
        self._links.add(link)
        try:
            await self._wait_flowing()
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except (OSError, asyncio.CancelledError):
            link.abort()
            self._links.discard(link)
            return
        link.upstream = up_writer
        link.tasks = [
            asyncio.current_task(),  # type: ignore[list-item]
            *self._pipe(link, reader, up_writer, upstream=True),
            *self._pipe(link, up_reader, writer, upstream=False),
        ]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*link.tasks[1:], return_exceptions=True)
        for side in (writer, up_writer):
            side.close()
        self._links.discard(link)

    def _pipe(
        self,
        link: _Link,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        upstream: bool,
    ) -> list[asyncio.Task[None]]:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        return [
            asyncio.create_task(self._read(link, reader, queue)),
            asyncio.create_task(self._write(link, writer, queue, upstream=upstream)),
        ]

    async def _wait_flowing(self) -> None:
        assert self._flowing is not None
        await self._flowing.wait()

    async def _read(
        self, link: _Link, reader: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes]]
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._wait_flowing()
                data = await reader.read(_CHUNK)
                await queue.put((loop.time() + self._latency_s, data))
                if not data:
                    return
        except OSError:
            await queue.put((loop.time(), b""))

    async def _write(
        self,
        link: _Link,
        writer: asyncio.StreamWriter,
        queue: asyncio.Queue[tuple[float, bytes]],
        *,
        upstream: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                await self._wait_flowing()
                if not data:
                    # The other side closed: close this one after what is still buffered.
                    writer.close()
                    return
                for piece in self._pieces(data):
                    if upstream and self._reset_at is not None:
                        allowed = self._reset_at - self.bytes_up
                        if allowed < len(piece):
                            writer.write(piece[: max(allowed, 0)])
                            await writer.drain()
                            self.bytes_up += max(allowed, 0)
                            self._reset_at = None
                            await self._reset_all()
                            return
                    writer.write(piece)
                    await writer.drain()
                    if upstream:
                        self.bytes_up += len(piece)
                    else:
                        self.bytes_down += len(piece)
        except OSError:
            link.abort()

    def _pieces(self, data: bytes) -> list[bytes]:
        size = self._slice
        if size is None:
            return [data]
        return [data[i : i + size] for i in range(0, len(data), size)]
