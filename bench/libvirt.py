"""libvirt consoles: time to the first console byte (local, and over qemu+ssh), discovery of 100
domains, and memory per libvirt session.

A private session libvirtd runs the demo guest (console_tui/lab/libvirtd.py); a loopback sshd puts
it behind `qemu+ssh://`. The first byte is timed from a fresh connection to the guest's echo of a
CR (connect, openConsole, one round trip); discovery is one look at a hypervisor with 100 defined
domains (the real daemon, and libvirt's in-process test driver); memory is this process's RSS
growth for a Hub's first libvirt session and for each further one (the library and its connection
are loaded by then). Medians of REPEAT runs.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from console_tui.core import hypervisors
from console_tui.core.backings import make_backing
from console_tui.core.config import Config, Hypervisor, Settings
from console_tui.core.hub import Hub
from console_tui.lab.libvirtd import LibvirtLab, LoopbackSSHD

REPEAT = 5
DOMAINS = 100
EXTRA_SESSIONS = 3
TEST_DOMAIN = (
    "<domain type='test'><name>{}</name><memory>8192</memory><os><type>hvm</type></os></domain>"
)


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _first_byte(uri: str, domain: str) -> float:
    hypervisors.disconnect(uri)
    backing = make_backing(hypervisors.line_uri(uri, domain))
    started = time.perf_counter()
    await backing.open()
    try:
        await backing.write(b"\r")
        await backing.read()
        return time.perf_counter() - started
    finally:
        await backing.close()


async def _discovery(uri: str) -> float:
    hypervisor = Hypervisor("hv", uri)
    started = time.perf_counter()
    found = await hypervisors.scan((hypervisor,), set())
    elapsed = time.perf_counter() - started
    assert len(found) >= DOMAINS, f"found only {len(found)}"
    return elapsed


async def _memory(lab: LibvirtLab, names: list[str]) -> tuple[float, float]:
    hub = Hub(Config(None, Settings(), hypervisors=(Hypervisor("hv", lab.uri),)))
    try:
        await hub.refresh_targets()
        before = _rss_kib()
        await hub.attach(names[0], wait=10)
        first = _rss_kib()
        for name in names[1:]:
            await hub.attach(name, wait=10)
        rest = _rss_kib()
    finally:
        await hub.close()
    return (first - before) / 1024, (rest - first) / 1024 / max(len(names) - 1, 1)


async def _run(lab: LibvirtLab, sshd: LoopbackSSHD) -> None:
    local = [await _first_byte(lab.uri, "bench") for _ in range(REPEAT)]
    remote = [await _first_byte(sshd.uri(lab), "bench") for _ in range(REPEAT)]
    print(f"first console byte, local libvirt: {statistics.median(local) * 1000:.0f} ms")
    print(f"first console byte, over qemu+ssh: {statistics.median(remote) * 1000:.0f} ms")

    conn = await hypervisors.connection(lab.uri)
    for n in range(DOMAINS):
        await asyncio.to_thread(conn.defineXML, lab.domain_xml(f"many-{n:03d}"))
    real = [await _discovery(lab.uri) for _ in range(REPEAT)]
    test_conn = await hypervisors.connection("test:///default")
    for n in range(DOMAINS):
        test_conn.defineXML(TEST_DOMAIN.format(f"many-{n:03d}"))
    test = [await _discovery("test:///default") for _ in range(REPEAT)]
    print(
        f"discovery of {DOMAINS} domains: {statistics.median(real) * 1000:.0f} ms (libvirtd), "
        f"{statistics.median(test) * 1000:.1f} ms (test driver)"
    )
    for n in range(DOMAINS):
        await asyncio.to_thread(lambda n=n: conn.lookupByName(f"many-{n:03d}").undefine())

    extra = [f"extra-{n}" for n in range(EXTRA_SESSIONS)]
    for name in extra:
        await asyncio.to_thread(lab.create, name, wait=False)
    first, each = await _memory(lab, ["bench", *extra])
    print(
        f"memory per libvirt session (connection already open): first {first:.1f} MiB, "
        f"each further {each:.1f} MiB"
    )


def main() -> None:
    lab = LibvirtLab()
    sshd = LoopbackSSHD(Path(tempfile.mkdtemp(prefix="console-tui-sshd-")))
    try:
        lab.start()
        lab.create("bench")
        sshd.start()
        asyncio.run(_run(lab, sshd))
    finally:
        sshd.stop()
        lab.stop()


if __name__ == "__main__":
    main()
