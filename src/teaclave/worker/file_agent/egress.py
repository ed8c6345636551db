"""Egress control: which network destinations the file agent may connect to.

Every host is resolved once (``getaddrinfo``); the call is refused when any resolved address is
non-public (loopback, private, link-local such as the ``169.254.169.254`` metadata service,
multicast, reserved, unspecified, shared/CGNAT, or an IPv4-mapped, 6to4, Teredo or NAT64 form
of one) unless the destination is on the allow-list. The caller then connects to exactly the
addresses that were checked, so a second DNS answer (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from teaclave.config.runtime import ConfigError
from teaclave.worker.file_agent.errors import EgressDenied, FileAgentError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
SockAddr = tuple[Any, ...]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True, slots=True)
class ResolvedAddress:
    """One checked address: the socket family and the exact ``sockaddr`` to connect to."""

    family: socket.AddressFamily
    sockaddr: SockAddr


def normalize_host(host: str) -> str:
    """Canonical form of a host for comparisons: compressed IP, or lower-case name sans dot."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return host.lower().rstrip(".")


def non_public_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or ``None`` when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = None
        form = ""
        if ip.ipv4_mapped is not None:
            embedded, form = ip.ipv4_mapped, "IPv4-mapped"
        elif ip.sixtofour is not None:
            embedded, form = ip.sixtofour, "6to4"
        elif ip.teredo is not None:
            embedded, form = ip.teredo[1], "Teredo"
        elif ip in _NAT64:
            embedded, form = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
        if embedded is not None:
            reason = non_public_reason(embedded)
            return None if reason is None else f"{form} {reason}"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("non-global", not ip.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


@dataclass(frozen=True, slots=True)
class AllowList:
    """``file_agent.allowed_hosts`` parsed: host names, ``host:port`` pairs and networks."""

    hosts: frozenset[str] = frozenset()
    host_ports: frozenset[tuple[str, int]] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: tuple[str, ...] | list[str]) -> AllowList:
        """Parse entries (``host``, ``host:port``, ``[v6]:port``, an IP, or a CIDR).

        Raises ``ConfigError`` (a ``ValueError``) naming the first malformed entry.
        """
        hosts: set[str] = set()
        host_ports: set[tuple[str, int]] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            bad = ConfigError(f"file_agent.allowed_hosts: {raw!r} is not host, host:port or a CIDR")
            if not entry:
                raise bad
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise bad from None
                continue
            try:
                networks.append(ipaddress.ip_network(ipaddress.ip_address(entry)))
                continue
            except ValueError:
                pass
            host, port = _split_host_port(entry)
            if not host or any(c in host for c in "@/?#\\ "):
                raise bad
            if port is None:
                hosts.add(normalize_host(host))
            elif 0 < port <= 65535:
                host_ports.add((normalize_host(host), port))
            else:
                raise bad
        return cls(frozenset(hosts), frozenset(host_ports), tuple(networks))

    def allows_destination(self, host: str, port: int) -> bool:
        """Whether the destination is allowed wholesale by a host or ``host:port`` entry."""
        name = normalize_host(host)
        return name in self.hosts or (name, port) in self.host_ports

    def allows_address(self, ip: IPAddress) -> bool:
        """Whether ``ip`` lies in an allowed network."""
        return any(ip.version == net.version and ip in net for net in self.networks)


def _split_host_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):
        host, sep, rest = entry[1:].partition("]")
        if not sep:
            return "", None
        if not rest:
            return host, None
        if not rest.startswith(":") or not rest[1:].isdigit():
            return "", None
        return host, int(rest[1:])
    host, sep, port = entry.rpartition(":")
    if not sep:
        return entry, None
    if not port.isdigit() or ":" in host:
        return "", None
    return host, int(port)


class EgressPolicy:
    """Resolves a destination once and refuses it when the policy forbids any address."""

    def __init__(self, allow: AllowList, deny_private: bool) -> None:
        self._allow = allow
        self._deny_private = deny_private

    def resolve(self, url: str, host: str, port: int) -> list[ResolvedAddress]:
        """The checked addresses of ``host:port`` (to connect to, in order).

        ``EgressDenied`` when an address is non-public and not allowed; ``FileAgentError`` when
        the name does not resolve. With ``deny_private`` off every address is allowed.
        """
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FileAgentError(url, f"cannot resolve host {host!r}: {exc}") from None
        addresses: list[ResolvedAddress] = []
        seen: set[SockAddr] = set()
        for family, _type, _proto, _canon, sockaddr in infos:
            if family not in (socket.AF_INET, socket.AF_INET6):
                continue
            addr: SockAddr = tuple(sockaddr)
            if addr not in seen:
                seen.add(addr)
                addresses.append(ResolvedAddress(family, addr))
        if not addresses:
            raise FileAgentError(url, f"cannot resolve host {host!r}: no IP address")
        if not self._deny_private or self._allow.allows_destination(host, port):
            return addresses
        for resolved in addresses:
            ip = ipaddress.ip_address(str(resolved.sockaddr[0]).split("%", 1)[0])
            reason = non_public_reason(ip)
            if reason is not None and not self._allow.allows_address(ip):
                raise EgressDenied(
                    url,
                    f"egress denied: {host} resolves to {reason} address {ip} "
                    "(add it to file_agent.allowed_hosts to allow it)",
                )
        return addresses
