"""Serving the application with uvicorn on a socket bound up front.

Binding before uvicorn starts lets port 0 mean "any free port" and still log
(and hand to tests) the real port. Uvicorn's own log records are forwarded to
the node's logger, so the launcher shows one stream per node.
"""

from __future__ import annotations

import logging
import socket

import uvicorn
from fastapi import FastAPI

from sentinel_bridge.persistence.worker import Logger

# Seconds uvicorn waits for open requests and streams at shutdown.
GRACEFUL_SHUTDOWN_S = 2
# Pending connections the listening socket queues.
LISTEN_BACKLOG = 128


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: the kernel picks a free one).

    The protocol is named (IPPROTO_TCP, not the default 0) because asyncio
    turns Nagle's algorithm off (TCP_NODELAY) only on connections whose socket
    says TCP; with it on, a response written as headers then body waits for
    the client's delayed ACK, which added 40 ms to every request.
    """
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


class ForwardToLogger(logging.Handler):
    """Sends standard-library log records (uvicorn's) to the node's logger."""

    def __init__(self, logger: Logger) -> None:
        super().__init__(logging.INFO)
        self._logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        message = f'http: {record.getMessage()}'
        if record.levelno >= logging.ERROR:
            self._logger.error(message)
        elif record.levelno >= logging.WARNING:
            self._logger.warning(message)
        else:
            self._logger.info(message)


def make_server(app: FastAPI, logger: Logger) -> uvicorn.Server:
    """A uvicorn server for app, logging through `logger`, without access logs."""
    handler = ForwardToLogger(logger)
    for name in ('uvicorn', 'uvicorn.error'):
        target = logging.getLogger(name)
        target.handlers = [handler]
        target.setLevel(logging.INFO)
        target.propagate = False
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan='on',
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, server_header=False)
    return uvicorn.Server(config)
