"""Outbound requests that cannot reach inside: the guard every outbound HTTP call uses.

A webhook URL is chosen by whoever configures a subscription or a rule, so without a
guard it is a way to make the server call its own network: the database admin page on
``127.0.0.1``, a cloud's metadata service on ``169.254.169.254`` (credentials), other
hosts on the private network.  The guard refuses every address that is not public —
loopback, link-local, private, unique-local, shared (CGNAT), multicast, unspecified and
reserved ranges, and IPv6 forms that carry such an IPv4 address (``::ffff:127.0.0.1``,
6to4, NAT64) — unless the ``outbound_allow`` setting names the host or its network.

The check is made on the address the name **resolves to at connection time**, and the
connection goes to exactly that address: ``outbound_client()`` is an httpx client whose
network backend resolves, checks and connects in one step, so a name that resolves to a
public address when checked and to ``127.0.0.1`` a moment later (DNS rebinding) cannot
slip through.  The URL's host name is still used for TLS (SNI, certificate checks) and
the ``Host`` header.  Environment proxies are ignored: a proxy would make the request on
our behalf to wherever it is told.

``check_url()`` is the early check for forms (a subscription or a rule being saved): it
refuses a URL whose host is a literal internal address, so the mistake is reported when
it is made; the connection-time check stays the real guard.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpcore
import httpx

from kith.core.errors import KithError

if TYPE_CHECKING:
    from kith.core.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTING = "outbound_allow"
METADATA = ipaddress.ip_address("169.254.169.254")
SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))  # RFC 1918


class OutboundRefused(KithError):
    """An outbound request was refused because it would reach an internal address."""


def classify(address: IPAddress) -> str | None:
    """Why ``address`` is not a public one ("a loopback address", …), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = classify(embedded)
            return f"{reason} (IPv6 form of {embedded})" if reason else None
    if address == METADATA:
        return "a link-local address (the cloud metadata service)"
    for test, reason in (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_multicast, "a multicast address"),
        (_within(address, SHARED), "a shared (CGNAT) address"),
        (_within(address, UNIQUE_LOCAL), "a unique-local address"),
        (any(_within(address, network) for network in PRIVATE), "a private address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private or not address.is_global, "a special-purpose (non-public) address"),
    ):
        if test:
            return reason
    return None


def _within(address: IPAddress, network: IPNetwork) -> bool:
    """``address in network``, false across versions (``ipaddress`` compares bits only)."""
    return address.version == network.version and address in network


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if _within(address, NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def parse_allow_entry(entry: str) -> str | IPNetwork:
    """One ``outbound_allow`` entry: a network (``10.0.0.0/8``, ``::1``) or a host name."""
    text = entry.strip().lower().rstrip(".")
    try:
        return ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        pass
    labels = text.split(".")
    if not text or not all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels):
        raise ValueError(f"{entry!r} is neither a host name nor an address or network (CIDR)")
    return text


def _literal_address(host: str) -> IPAddress | None:
    """``host`` as an address when it is one, in any spelling a resolver accepts
    (``127.0.0.1``, ``[::1]``, ``2130706433``, ``0x7f.1``)."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


@dataclass(frozen=True)
class OutboundPolicy:
    """Which internal hosts and networks outbound requests may reach anyway."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> OutboundPolicy:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            parsed = parse_allow_entry(entry)
            if isinstance(parsed, str):
                hosts.add(parsed)
            else:
                networks.append(parsed)
        return cls(frozenset(hosts), tuple(networks))

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why connecting to ``address`` (for ``host``) is refused, or None."""
        if host.strip("[]").lower().rstrip(".") in self.hosts:
            return None
        if any(_within(address, network) for network in self.networks):
            return None
        reason = classify(address)
        if reason is None:
            return None
        shown = address if host.strip("[]") == str(address) else f"{host} ({address})"
        return f"refused: {shown} is {reason}; allow it with {SETTING}"

    def check_url(self, url: str) -> None:
        """Refuse ``url`` now if its host is a literal internal address (early feedback
        for a form; names are checked when they are resolved, at delivery)."""
        try:
            host = urlsplit(url).hostname or ""
        except ValueError as exc:
            raise OutboundRefused(f"refused: {url!r} is not a valid URL ({exc})") from None
        address = _literal_address(host)
        if address is not None:
            reason = self.refusal(host, address)
            if reason:
                raise OutboundRefused(reason)

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses ``host`` resolves to now, every one of them checked.

        One internal address among public ones refuses the whole name: the choice
        between them is the resolver's, not ours."""
        literal = _literal_address(host)
        found = [literal] if literal is not None else await resolve(host, port)
        if not found:
            raise OutboundRefused(f"refused: {host} has no address")
        for address in found:
            reason = self.refusal(host, address)
            if reason:
                raise OutboundRefused(reason)
        return found


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to (the system resolver, off the event loop)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
    seen: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    return seen


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves, checks and connects to the checked
    address, so what was checked is what is reached."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for address in await self.policy.addresses(host, port):
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc  # try the next address, as a resolver-driven connect would
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("refused: outbound requests do not use Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a ``GuardedBackend``, without environment proxies."""

    def __init__(self, policy: OutboundPolicy, **limits: Any) -> None:
        super().__init__(trust_env=False, **limits)
        # httpx does not take a network backend; its pool is the one documented seam.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=GuardedBackend(policy),
        )


@lru_cache(maxsize=16)
def _policy(entries: tuple[str, ...]) -> OutboundPolicy:
    return OutboundPolicy.from_entries(entries)


def outbound_policy(settings: Settings | Iterable[str] | None = None) -> OutboundPolicy:
    """The policy of ``settings`` (its ``outbound_allow``), or of a list of allow entries;
    None: no exceptions at all."""
    if settings is None:
        return _policy(())
    entries = getattr(settings, SETTING, settings)
    return _policy(tuple(entries))


def check_outbound_url(url: str, settings: Settings | Iterable[str] | None = None) -> None:
    """Raise ``OutboundRefused`` when ``url``'s host is a literal internal address that
    ``settings`` does not allow: the early check for a URL being saved (a subscription,
    a rule, a plugin's connector).  Host names are checked when the request is made."""
    outbound_policy(settings).check_url(url)


def outbound_client(settings: Settings | Iterable[str] | None = None, **options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that refuses internal addresses (``OutboundRefused``)
    unless ``settings.outbound_allow`` names them, checked on the address each connection
    actually goes to.  ``options`` are passed to httpx (``timeout``, ``headers``, …);
    redirects are not followed unless asked, and every hop is checked when they are."""
    return httpx.AsyncClient(transport=GuardedTransport(outbound_policy(settings)), trust_env=False, **options)
