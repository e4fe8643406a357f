"""100 VMs dialling into one concentrator (`listen://`): time to accept and match them all, and
the memory each connection costs.

Two kinds of caller, each on one listener with 100 targets waiting: vSPC VMs (telnet, option 232,
matched by VM name after they tell it) and raw lines (matched by their source address, 127.0.0.2
and up, sending a first byte so no quiet-peer wait is counted). Memory is Python's own (tracemalloc)
for the concentrator's side of 100 matched connections, per connection; kernel socket buffers are
not in it.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import tracemalloc

from console_tui.core import listener, vspc
from console_tui.core.backings import parse_console_uri
from console_tui.core.backings._telnet import IAC, WILL

CONNECTIONS = 100
RUNS = 5


def vspc_opening(name: str) -> bytes:
    """What a vSPC VM sends on connecting, name and UUID told at once."""
    return (
        bytes((IAC, WILL, vspc.VMWARE_EXT))
        + vspc.message(vspc.KNOWN_SUBOPTIONS_1, vspc.SUPPORTED)
        + vspc.message(vspc.DO_PROXY, b"Ctelnet://bench:1")
        + vspc.message(vspc.VM_VC_UUID, f"{len(name):032x}".encode())
        + vspc.message(vspc.VM_NAME, name.encode())
    )


async def one_round(kind: str, *, traced: bool) -> float:
    """Seconds to accept and match all (untraced), or bytes of Python memory per matched
    connection (traced: tracemalloc slows Python, so the two are separate rounds)."""
    conc = await listener.concentrator("127.0.0.1", 0)
    port = conc.port
    if kind == "vspc":
        picks = [f"vm=vm-{n}" for n in range(CONNECTIONS)]
    else:
        picks = [f"peer=127.0.0.{n + 2}" for n in range(CONNECTIONS)]
    links = [
        conc.link(listener.Selector.from_uri(parse_console_uri(f"listen://127.0.0.1:{port}?{p}")))
        for p in picks
    ]
    waits = [asyncio.ensure_future(link.wait_line()) for link in links]
    await asyncio.sleep(0)
    if traced:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()

    async def dial(n: int) -> asyncio.StreamWriter:
        local = ("127.0.0.1", 0) if kind == "vspc" else (f"127.0.0.{n + 2}", 0)
        _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=local)
        writer.write(vspc_opening(f"vm-{n}") if kind == "vspc" else b"\r")
        return writer

    writers = await asyncio.gather(*(dial(n) for n in range(CONNECTIONS)))
    await asyncio.gather(*waits)
    result = time.perf_counter() - started
    if traced:
        result = (tracemalloc.get_traced_memory()[0] - before) / CONNECTIONS
        tracemalloc.stop()
    assert all(link.line is not None for link in links)
    for writer in writers:
        writer.close()
    for link in links:
        await link.close()
    await listener.close_all()
    return result


async def measure() -> None:
    for kind in ("vspc", "raw"):
        times = [await one_round(kind, traced=False) for _ in range(RUNS)]
        sizes = [await one_round(kind, traced=True) for _ in range(RUNS)]
        print(
            f"{kind:5} {CONNECTIONS} connections: accept and match all "
            f"median {statistics.median(times) * 1000:.0f} ms "
            f"({statistics.median(times) / CONNECTIONS * 1e6:.0f} us each); "
            f"memory per connection median {statistics.median(sizes) / 1024:.1f} KiB"
        )


def main() -> None:
    asyncio.run(measure())


if __name__ == "__main__":
    main()
