"""Listening sockets for the servers this project runs on Hypercorn (the simulator, the ops
endpoint), and the one rule for what counts as a loopback host (where plain http/ws may
carry a token, and where a server may listen without one).

Why not Hypercorn's own ``bind = ["host:port"]``: when the bind fails (a port in use)
Hypercorn raises from deep inside its worker, wrapped in three exception groups, and leaves
the socket it made to the garbage collector. Binding here gives the caller a plain
``OSError`` at once and closes the socket; Hypercorn then takes the bound descriptor over
(``fd://N``).
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["bound_socket", "hypercorn_bind", "is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """``localhost`` (any case) or a loopback IP literal (127.0.0.0/8, ``::1``). Any other
    name may resolve anywhere, so it is not loopback."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port), closed again if the bind fails.

    Raises:
        OSError: the address is in use, not local, or not allowed.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def hypercorn_bind(host: str, port: int) -> str:
    """A Hypercorn ``bind`` entry for a socket bound here: ``fd://N`` (Hypercorn owns it)."""
    return f"fd://{bound_socket(host, port).detach()}"
