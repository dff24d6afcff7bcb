"""Free loopback ports for the test nodes."""

from __future__ import annotations

import socket

# esnode puts the transport port this far above the HTTP port.
TRANSPORT_PORT_OFFSET = 100


def free_port_pair(attempts: int = 50) -> int:
    """A free loopback HTTP port whose transport port (``+100``) is free as well."""
    for _ in range(attempts):
        with socket.socket() as http:
            http.bind(("127.0.0.1", 0))
            port = http.getsockname()[1]
            with socket.socket() as transport:
                try:
                    transport.bind(("127.0.0.1", port + TRANSPORT_PORT_OFFSET))
                except (OSError, OverflowError):
                    continue
                return port
    raise RuntimeError(f"no free port pair (port, port+{TRANSPORT_PORT_OFFSET}) on 127.0.0.1 in {attempts} attempts")
