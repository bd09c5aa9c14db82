"""Aggregate observed external addresses into a few ipBlock CIDRs, with a bound on waste.

The rule (documented in ``docs/suggest.md``):

1. Addresses are split into classes that are never merged with each other: the cloud
   metadata address ``169.254.169.254`` (always its own ``/32`` so it stands out), other
   link-local, private (RFC 1918 / ULA), loopback, shared (CGNAT) and all other ("public")
   addresses, and IPv4 apart from IPv6.
2. Inside a class, blocks are merged bottom-up (never over an address listed in ``avoid``,
   such as the cluster's pod IPs): two or more blocks under the same supernet
   of length ``p`` merge into that supernet when ``p >= min_prefix`` (``/24`` for IPv4,
   ``/64`` for IPv6 by default: a rule never opens more than that) and the supernet holds at
   most ``max_ratio`` addresses per observed address (default 64: at most 64 times the space
   that was really used).
3. When more than ``max_blocks`` public blocks remain (typical for internet clients reaching a
   public frontend), the public ones are replaced by ``0.0.0.0/0`` (or ``::/0``) with the
   private, link-local, loopback and shared ranges excepted, and ``widened`` says so.

>>> [b.cidr for b in aggregate(["203.0.113.1", "203.0.113.2", "203.0.113.3", "169.254.169.254"])]
['169.254.169.254/32', '203.0.113.0/30']
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

from toolkit.errors import InputError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA = ipaddress.ip_address("169.254.169.254")
_SHARED_V4 = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE = tuple(ipaddress.ip_network(n) for n in
                 ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
#: Ranges excepted when public destinations are widened to "anywhere".
NON_PUBLIC_V4 = ("10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
                 "172.16.0.0/12", "192.168.0.0/16")
NON_PUBLIC_V6 = ("::1/128", "fc00::/7", "fe80::/10")


@dataclass(frozen=True)
class Block:
    """One aggregated CIDR: how many observed addresses it covers and which class it is."""

    cidr: str
    observed: int
    kind: str
    excepts: tuple[str, ...] = field(default=())

    @property
    def network(self) -> IPNetwork:
        return ipaddress.ip_network(self.cidr)


def address_class(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The aggregation class of an address (addresses of different classes never merge).

    >>> address_class(ipaddress.ip_address("169.254.169.254"))
    'metadata'
    >>> address_class(ipaddress.ip_address("8.8.8.8"))
    'public'
    """
    if addr == METADATA:
        return "metadata"
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "link-local"
    if addr.version == 4 and addr in _SHARED_V4:
        return "shared"
    if any(addr in net for net in _PRIVATE if net.version == addr.version):
        return "private"
    return "public"


def _parse(addresses: Iterable[str]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    out = set()
    for text in addresses:
        try:
            out.add(ipaddress.ip_address(text))
        except ValueError:
            raise InputError(f"not an IP address: {text!r}", field="ip",
                             hint="external peers must be literal IPv4/IPv6 addresses") from None
    return sorted(out, key=lambda a: (a.version, int(a)))


def _covers(parent: IPNetwork, avoid: list[int]) -> bool:
    """Whether ``parent`` contains one of the sorted address integers ``avoid``."""
    i = bisect_left(avoid, int(parent.network_address))
    return i < len(avoid) and avoid[i] <= int(parent.broadcast_address)


def _merge_class(addrs: list, min_prefix: int, max_ratio: int,
                 avoid: list[int]) -> list[tuple[IPNetwork, int]]:
    """Bottom-up merge of one class of same-family addresses: (network, observed) pairs."""
    width = addrs[0].max_prefixlen
    blocks = {ipaddress.ip_network(a): 1 for a in addrs}
    for length in range(width - 1, min_prefix - 1, -1):
        groups: dict[IPNetwork, list[IPNetwork]] = {}
        for net in blocks:
            if net.prefixlen > length:
                groups.setdefault(net.supernet(new_prefix=length), []).append(net)
        for parent, members in groups.items():
            seen = sum(blocks[m] for m in members)
            if (len(members) >= 2 and parent.num_addresses <= seen * max_ratio
                    and not _covers(parent, avoid)):
                for m in members:
                    del blocks[m]
                blocks[parent] = seen
    return sorted(blocks.items(), key=lambda kv: (int(kv[0].network_address), kv[0].prefixlen))


def aggregate(addresses: Iterable[str], *, min_prefix_v4: int = 24, min_prefix_v6: int = 64,
              max_ratio: int = 64, max_blocks: int = 64, avoid: Iterable[str] = ()
              ) -> list[Block]:
    """Aggregate addresses into CIDR blocks (see the module docstring for the rule).

    Blocks come sorted by (family, address); every input address is covered by exactly one
    block, and each block opens at most ``max_ratio`` addresses per observed one (except a
    widened ``0.0.0.0/0``). No merged block contains an address of ``avoid`` (e.g. the pod
    IPs of the cluster: an ipBlock must not open them on CNIs that match pod IPs).
    """
    parsed = _parse(addresses)
    avoid_ints = {4: [], 6: []}
    for addr in _parse(avoid):
        avoid_ints[addr.version].append(int(addr))
    classes: dict[tuple[int, str], list] = {}
    for addr in parsed:
        classes.setdefault((addr.version, address_class(addr)), []).append(addr)
    out: list[Block] = []
    for (version, kind), addrs in sorted(classes.items()):
        if kind == "metadata":
            out.extend(Block(f"{a}/32", 1, kind) for a in addrs)
            continue
        min_prefix = min_prefix_v4 if version == 4 else min_prefix_v6
        merged = _merge_class(addrs, min_prefix, max_ratio, avoid_ints[version])
        if kind == "public" and len(merged) > max_blocks:
            anywhere = "0.0.0.0/0" if version == 4 else "::/0"
            excepts = NON_PUBLIC_V4 if version == 4 else NON_PUBLIC_V6
            out.append(Block(anywhere, len(addrs), "public-widened", excepts))
            continue
        out.extend(Block(str(net), seen, kind) for net, seen in merged)
    return sorted(out, key=lambda b: (b.network.version, int(b.network.network_address),
                                      b.network.prefixlen))


def ip_block(block: Block) -> dict:
    """The NetworkPolicy ``ipBlock`` peer for a block."""
    body: dict = {"cidr": block.cidr}
    if block.excepts:
        body["except"] = list(block.excepts)
    return {"ipBlock": body}
