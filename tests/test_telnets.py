"""`telnets://`: telnet over TLS with vSphere's parameters, against `socat OPENSSL-LISTEN` in front
of the demo guest's console, with a throwaway CA and server certificate made by `openssl`."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import need_command, output_until

from console_tui import lab
from console_tui.core import config
from console_tui.core.backings import URIError, make_backing, parse_console_uri
from console_tui.core.errors import UnreachableError
from console_tui.core.hub import Hub

NAME = "console.example.test"


@dataclass(frozen=True)
class TLSFront:
    """socat serving TLS on `port`, its certificate's fingerprints, and the CA that signed it."""

    port: int
    ca: Path
    sha256: str
    sha1: str
    ca_sha256: str

    def uri(self, fragment: str) -> str:
        return f"telnets://127.0.0.1:{self.port}#{fragment}"


def openssl(*args: str, folder: Path) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def fingerprint(pem: Path, digest: str) -> str:
    """The certificate's fingerprint as `openssl x509 -fingerprint` prints it."""
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", f"-{digest}", "-in", str(pem)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().split("=", 1)[1]


def make_certificates(folder: Path) -> None:
    """A CA, and a server certificate it signed for NAME."""
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=console-tui test CA", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            folder=folder)  # fmt: skip
    openssl("req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={NAME}",
            folder=folder)  # fmt: skip
    (folder / "server.ext").write_text(
        f"subjectAltName=DNS:{NAME}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
            folder=folder)  # fmt: skip


@pytest.fixture(scope="module")
def front(guest: lab.LabInfo) -> Iterator[TLSFront]:
    """socat OPENSSL-LISTEN on a loopback port, each connection joined to the guest's console."""
    need_command("socat", "openssl")
    with tempfile.TemporaryDirectory(prefix="ctui-tls-") as name:
        folder = Path(name)
        make_certificates(folder)
        process = subprocess.Popen(
            ["socat", "-d", "-d",
             f"OPENSSL-LISTEN:0,bind=127.0.0.1,reuseaddr,fork,cert={folder / 'server.pem'},"
             f"key={folder / 'server.key'},verify=0",
             f"UNIX-CONNECT:{guest.serial_socket}"],
            stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        try:
            assert process.stderr is not None
            said, deadline = b"", time.monotonic() + 10
            while not (found := re.search(rb"listening on AF=\d+ [\d.]+:(\d+)", said)):
                ready, _, _ = select.select([process.stderr], [], [], deadline - time.monotonic())
                assert ready, f"socat did not listen: {said!r}"
                said += process.stderr.readline()
            pem = folder / "server.pem"
            yield TLSFront(
                port=int(found.group(1)),
                ca=folder / "ca.pem",
                sha256=fingerprint(pem, "sha256"),
                sha1=fingerprint(pem, "sha1"),
                ca_sha256=fingerprint(folder / "ca.pem", "sha256"),
            )
        finally:
            # socat's process group: the listener and its forked children, by their group id.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)


async def refusal(uri: str) -> str:
    """The error opening `uri` gives."""
    backing = make_backing(uri)
    try:
        with pytest.raises(UnreachableError) as caught:
            await backing.open()
    finally:
        await backing.close()
    return str(caught.value)


async def opens(uri: str) -> None:
    backing = make_backing(uri)
    try:
        await backing.open()
    finally:
        await backing.close()


@pytest.mark.guest
async def test_the_pinned_thumbprint_reaches_the_guest_and_carries_a_break(
    front: TLSFront, tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[[target]]\nname = "tls"\nconsole = "{front.uri(f"thumbprint={front.sha256}")}"\n'
    )
    hub = Hub(config.load(path))
    try:
        viewer = await hub.attach("tls", wait=10)
        assert hub.can_break("tls").ok
        await hub.write(viewer, b"echo tls=$((6*7))\r")
        await output_until(viewer, b"tls=42", timeout=20, snapshots=False)
        assert await hub.sysrq(viewer, "h") == "sent BREAK then SysRq h"
        await output_until(viewer, b"sysrq: HELP", timeout=20, snapshots=False)
    finally:
        await hub.close()


@pytest.mark.guest
async def test_a_sha1_thumbprint_and_a_verified_ca_are_accepted(front: TLSFront) -> None:
    await opens(front.uri(f"thumbprint={front.sha1.lower()}"))
    await opens(front.uri(f"verify&cafile={front.ca}&peerName={NAME}&cipherList=ECDHE+AESGCM"))


@pytest.mark.guest
async def test_a_wrong_thumbprint_is_refused_with_the_one_seen(front: TLSFront) -> None:
    said = await refusal(front.uri(f"thumbprint={front.ca_sha256}"))
    assert f"thumbprint={front.ca_sha256} was expected" in said
    assert f"the server has thumbprint SHA-256 {front.sha256} (SHA-1 {front.sha1})" in said
    assert f"names: {NAME}" in said
    assert "put its new thumbprint in the console URI" in said


@pytest.mark.guest
async def test_a_wrong_peer_name_is_refused_with_the_names_on_the_certificate(
    front: TLSFront,
) -> None:
    expected = f"the server's certificate is for {NAME}, not 'other.example.test'"
    for fragment in (
        f"verify&cafile={front.ca}&peerName=other.example.test",
        f"thumbprint={front.sha256}&peerName=other.example.test",
    ):
        said = await refusal(front.uri(fragment))
        assert expected in said, said
        assert "set peerName= to a name the certificate carries" in said


@pytest.mark.guest
async def test_an_untrusted_or_unchecked_certificate_is_refused_with_its_fingerprint(
    front: TLSFront,
) -> None:
    untrusted = await refusal(front.uri(f"verify&peerName={NAME}"))
    assert "the server's certificate is not trusted (unable to get local issuer" in untrusted
    assert f"SHA-256 {front.sha256}" in untrusted
    assert "give the CA that signed it with cafile=" in untrusted
    unchecked = await refusal(front.uri(f"peerName={NAME}"))
    assert "nothing to check the server's certificate against" in unchecked
    assert f"pin it: #thumbprint={front.sha256}" in unchecked


def test_bad_parameters_are_refused_when_the_config_is_read() -> None:
    cases = {
        "telnets://h:1#thumbprint=12:34": "is not a SHA-1 or SHA-256 fingerprint",
        "telnets://h:1#thumbprnt=" + "ab" * 32: "unknown telnets:// parameter 'thumbprnt'",
        "telnets://h:1#verify&cipherList=NOPE-CIPHER": "selects no cipher OpenSSL knows",
    }
    for uri, words in cases.items():
        with pytest.raises(URIError, match=re.escape(words)) as caught:
            parse_console_uri(uri)
        assert caught.value.fix
    assert parse_console_uri("telnets://h:1#verify").scheme == "telnets"
