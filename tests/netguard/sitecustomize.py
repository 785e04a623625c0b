"""Loaded by Python at start-up when this folder is on PYTHONPATH (privacy tests only): logs every
socket connection the process attempts to the file named by NETGUARD_LOG.

Python sockets only: a native library's own threads (onnxruntime's telemetry was one) go around it, which
is why tests/test_egress.py traces the system calls with strace."""

import os
import socket

_LOG = os.environ.get("NETGUARD_LOG")
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _record(sock, address):
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(f"{int(sock.family)}\t{address!r}\n")


def connect(self, address):
    _record(self, address)
    return _connect(self, address)


def connect_ex(self, address):
    _record(self, address)
    return _connect_ex(self, address)


socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
