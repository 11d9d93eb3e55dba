"""A TCP proxy for fault tests: a service going away and coming back, without touching it.

The PostgreSQL and Redis servers a test run uses are shared by other tests, so a test never stops
them: it points shopwise at this proxy instead and cuts the proxy, which drops every connection
and refuses new ones (accepts and closes them at once), as a restarting or unreachable server
does. Restoring it lets new connections through again.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class Proxy:
    """Forwards 127.0.0.1:``port`` to ``target`` while open; :meth:`cut` drops everything."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.open = threading.Event()
        self.open.set()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, scheme: str, path: str = "") -> str:
        """``<scheme>://127.0.0.1:<port><path>``: the proxied service's address."""
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until :meth:`restore`."""
        self.open.clear()
        with self._lock:
            dropped, self._sockets = self._sockets, []
        for sock in dropped:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        """Let new connections through again."""
        self.open.set()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)
