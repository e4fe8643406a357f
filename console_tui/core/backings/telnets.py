"""`telnets://host:port#thumbprint=..&peerName=..&verify&cipherList=..`: telnet over TLS, with
vSphere's parameters (in the fragment, or the query).

- `thumbprint=` pins the server certificate: its SHA-1 or SHA-256, colon-separated hex.
- `verify` checks the certificate against trusted CAs (`cafile=/path/ca.pem`, else the system's).
- `peerName=` is the name the certificate must carry (default: the host of the URI).
- `cipherList=` is an OpenSSL cipher list for TLS 1.2 and older.

A certificate that is neither pinned nor verified is refused, as is every mismatch: each says what
it saw (the fingerprint, the names on the certificate) and the fix. BREAK is IAC BRK, as on telnet.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qsl

from cryptography import x509

from console_tui.core.backings import ConsoleURI, URIError
from console_tui.core.backings._stream import CONNECT_TIMEOUT
from console_tui.core.backings.tcp import TCPBacking
from console_tui.core.errors import UnreachableError

KNOWN = {"thumbprint": "thumbprint", "peername": "peerName", "verify": "verify"}
KNOWN |= {"cipherlist": "cipherList", "cafile": "cafile"}
HASHES = {20: "sha1", 32: "sha256"}


@dataclass(frozen=True)
class TLSParams:
    """The TLS parameters of one telnets:// URI, checked."""

    thumbprint: bytes = b""
    peer_name: str = ""
    verify: bool = False
    cipher_list: str = ""
    cafile: str = ""


def tls_params(uri: ConsoleURI) -> TLSParams:
    """The URI's TLS parameters (fragment and query, names in any case); `URIError` says which
    one is wrong and how to write it."""
    raw = dict(parse_qsl(uri.fragment, keep_blank_values=True)) | uri.params
    values: dict[str, str] = {}
    for name, value in raw.items():
        key = KNOWN.get(name.lower())
        if key is None:
            raise URIError(
                f"unknown telnets:// parameter {name!r}",
                fix="use thumbprint=, peerName=, verify, cipherList= or cafile=",
            )
        values[key] = value
    thumbprint = b""
    if "thumbprint" in values:
        text = values["thumbprint"].replace(":", "").replace(" ", "")
        try:
            thumbprint = bytes.fromhex(text)
        except ValueError:
            thumbprint = b""
        if len(thumbprint) not in HASHES:
            raise URIError(
                f"thumbprint {values['thumbprint']!r} is not a SHA-1 or SHA-256 fingerprint",
                fix="write it as colon-separated hex, as `openssl x509 -noout -fingerprint "
                "-sha256 -in cert.pem` prints it",
            )
    verify = (
        values.get("verify", "") not in ("0", "false", "no", "off") if "verify" in values else False
    )
    cipher_list = values.get("cipherList", "")
    if cipher_list:
        try:
            ssl.create_default_context().set_ciphers(cipher_list)
        except ssl.SSLError:
            raise URIError(
                f"cipherList {cipher_list!r} selects no cipher OpenSSL knows",
                fix="use an OpenSSL cipher list such as ECDHE+AESGCM (openssl ciphers -v lists them)",
            ) from None
    return TLSParams(
        thumbprint=thumbprint,
        peer_name=values.get("peerName", ""),
        verify=verify,
        cipher_list=cipher_list,
        cafile=values.get("cafile", ""),
    )


def check_uri(uri: ConsoleURI) -> None:
    """Check a telnets:// URI's parameters when the config is read."""
    tls_params(uri)


class TelnetsBacking(TCPBacking):
    """A telnet client over TLS, refusing a certificate it cannot trust."""

    kind = "telnets"

    def __init__(self, uri: ConsoleURI, *, baud: int = 115200) -> None:
        super().__init__(uri, baud=baud)
        self.tls = tls_params(uri)

    def _telnet_framing(self) -> bool:
        return True

    @property
    def peer_name(self) -> str:
        return self.tls.peer_name or self.uri.host

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            reader, writer = await asyncio.open_connection(
                self.uri.host,
                self.uri.port,
                ssl=self._context(),
                server_hostname=self.peer_name,
                ssl_handshake_timeout=CONNECT_TIMEOUT,
            )
        except ssl.SSLCertVerificationError as exc:
            raise await self._untrusted(exc) from None
        except ssl.SSLError as exc:
            raise UnreachableError(
                f"TLS handshake failed: {exc.reason or exc}",
                where=self.uri.where,
                fix="check that the port speaks TLS and shares a protocol and cipher "
                "(cipherList=) with us",
            ) from None
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        try:
            self._check(der)
        except UnreachableError:
            writer.transport.abort()
            raise
        return reader, writer

    def _context(self, *, verify: bool | None = None) -> ssl.SSLContext:
        verify = self.tls.verify if verify is None else verify
        if verify:
            cafile = self.tls.cafile or None
            if cafile and not os.access(cafile, os.R_OK):
                raise UnreachableError(
                    f"cannot read the CA file {cafile}",
                    where=self.uri.where,
                    fix="check cafile= in the console URI (a PEM file of the CA certificates)",
                )
            context = ssl.create_default_context(cafile=cafile)
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.tls.cipher_list:
            context.set_ciphers(self.tls.cipher_list)
        return context

    def _check(self, der: bytes) -> None:
        """The pinned thumbprint and the name, on a certificate the handshake did not refuse."""
        seen = Certificate(der)
        pinned = self.tls.thumbprint
        if pinned and hashlib.new(HASHES[len(pinned)], der).digest() != pinned:
            raise UnreachableError(
                "the server's certificate is not the pinned one: "
                f"thumbprint={_hex(pinned)} was expected, the server has {seen.describe()}",
                where=self.uri.where,
                fix="if the server's certificate was replaced on purpose, put its new "
                "thumbprint in the console URI; if not, someone may be in between: do not connect",
            )
        if self.tls.peer_name and not seen.names_match(self.tls.peer_name):
            raise self._wrong_name(seen)
        if not pinned and not self.tls.verify:
            raise UnreachableError(
                f"nothing to check the server's certificate against; it has {seen.describe()}",
                where=self.uri.where,
                fix=f"after checking it on the server, pin it: #thumbprint={_hex(seen.sha256)}; "
                "or check it against a CA: #verify (&cafile=/path/ca.pem)",
            )

    def _wrong_name(self, seen: Certificate) -> UnreachableError:
        return UnreachableError(
            f"the server's certificate is for {seen.name_list()}, not {self.peer_name!r}",
            where=self.uri.where,
            fix="set peerName= to a name the certificate carries, or give the server a "
            f"certificate for {self.peer_name}",
        )

    async def _untrusted(self, error: ssl.SSLCertVerificationError) -> UnreachableError:
        """The refusal of a certificate that failed verification, naming what it is."""
        seen = await self._fetch_certificate()
        if seen is not None and not seen.names_match(self.peer_name):
            return self._wrong_name(seen)
        what = error.verify_message or error.reason or str(error)
        has = f"; it has {seen.describe()}" if seen is not None else ""
        return UnreachableError(
            f"the server's certificate is not trusted ({what}){has}",
            where=self.uri.where,
            fix="give the CA that signed it with cafile=/path/ca.pem, or pin the certificate "
            "with thumbprint= after checking it on the server",
        )

    async def _fetch_certificate(self) -> Certificate | None:
        """The server's certificate, fetched without trusting it, to say what it is."""
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                _, writer = await asyncio.open_connection(
                    self.uri.host,
                    self.uri.port,
                    ssl=self._context(verify=False),
                    server_hostname=self.peer_name,
                )
        except (OSError, TimeoutError):
            return None
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.transport.abort()
        return Certificate(der) if der else None


class Certificate:
    """What an operator needs to know of a server certificate: fingerprints and names."""

    def __init__(self, der: bytes) -> None:
        self.der = der
        self.sha1 = hashlib.sha1(der).digest()
        self.sha256 = hashlib.sha256(der).digest()
        cert = x509.load_der_x509_certificate(der)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            self.dns = [str(n) for n in san.get_values_for_type(x509.DNSName)]
            self.ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        except x509.ExtensionNotFound:
            self.dns, self.ips = [], []
        common = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        self.common_name = str(common[0].value) if common else ""

    def names_match(self, name: str) -> bool:
        """Whether the certificate is for `name` (RFC 6125: its alternative names, else its CN;
        a wildcard stands for one left-most label)."""
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            address = None
        if address is not None:
            return str(address) in self.ips
        names = self.dns or ([self.common_name] if self.common_name and not self.ips else [])
        return any(_dns_match(pattern, name) for pattern in names)

    def name_list(self) -> str:
        names = self.dns + self.ips or ([self.common_name] if self.common_name else [])
        return ", ".join(names) if names else "no name"

    def describe(self) -> str:
        return (
            f"thumbprint SHA-256 {_hex(self.sha256)} (SHA-1 {_hex(self.sha1)}), "
            f"names: {self.name_list()}"
        )


def _dns_match(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def _hex(digest: bytes) -> str:
    return ":".join(f"{b:02X}" for b in digest)
