"""The lab machine's serial port as its BMC sees it: always there, whether the machine is on.

QEMU's serial socket exists only while QEMU runs, and the IPMI simulator connects its SOL to it
once, at activation. This relay stands for the UART: the simulator connects to it and stays
connected; the relay reaches the machine's QEMU whenever it listens, again after every power
cycle, and drops what the BMC sends while the machine is off.

    python -m console_tui.lab.uart LISTEN_PORT MACHINE_PORT

It prints one line, `listening`, once the BMC can connect: the simulator tries its SOL port at
start and then only every 10 s, so it must not start before the relay listens.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time

RETRY = 0.1


def serve(listen_port: int, machine_port: int) -> None:
    server = socket.create_server(("127.0.0.1", listen_port))
    print("listening", flush=True)
    while True:
        bmc, _ = server.accept()
        threading.Thread(target=carry, args=(bmc, machine_port), daemon=True).start()


def carry(bmc: socket.socket, machine_port: int) -> None:
    """Join one BMC connection to the machine, reconnecting to it until the BMC hangs up."""
    machine: list[socket.socket | None] = [None]
    gone = threading.Event()

    def from_bmc() -> None:
        while data := _recv(bmc):
            current = machine[0]
            if current is not None:
                with contextlib.suppress(OSError):
                    current.sendall(data)
        gone.set()
        current = machine[0]
        if current is not None:
            with contextlib.suppress(OSError):
                current.shutdown(socket.SHUT_RDWR)

    threading.Thread(target=from_bmc, daemon=True).start()
    while not gone.is_set():
        try:
            current = socket.create_connection(("127.0.0.1", machine_port), timeout=1)
        except OSError:
            time.sleep(RETRY)
            continue
        current.settimeout(None)
        machine[0] = current
        while data := _recv(current):
            try:
                bmc.sendall(data)
            except OSError:
                gone.set()
                break
        machine[0] = None
        current.close()
    bmc.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
