"""External CIDR aggregation for suggested ipBlock peers (toolkit.policy.cidr)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import InputError
from toolkit.policy.cidr import aggregate, ip_block


def cidrs(addresses: list[str], **kw: int) -> list[str]:
    return [b.cidr for b in aggregate(addresses, **kw)]


def test_metadata_address_stands_alone_even_next_to_link_local() -> None:
    out = cidrs(["169.254.169.254", "169.254.169.253", "169.254.169.252"])
    assert "169.254.169.254/32" in out
    assert all(not ipaddress.ip_network(c).supernet_of(ipaddress.ip_network("169.254.169.254"))
               or c == "169.254.169.254/32" for c in out)


def test_nearby_public_addresses_collapse_far_ones_do_not() -> None:
    assert cidrs([f"52.216.8.{i}" for i in range(0, 256, 8)]) == ["52.216.8.0/24"]
    # two addresses 196 apart: a /24 would open 128x the observed space (> 64): keep /32s
    assert cidrs(["1.2.3.4", "1.2.3.200"]) == ["1.2.3.4/32", "1.2.3.200/32"]
    # never wider than /24 by default, even when dense enough
    wide = cidrs([f"9.9.{i}.{j}" for i in range(2) for j in range(0, 256, 2)])
    assert wide == ["9.9.0.0/24", "9.9.1.0/24"]


def test_private_and_public_never_merge() -> None:
    out = cidrs(["10.255.255.254", "11.0.0.1", "fd00::1", "2001:db8::1"])
    assert out == ["10.255.255.254/32", "11.0.0.1/32", "2001:db8::1/128", "fd00::1/128"]


def test_many_scattered_public_clients_widen_to_anywhere_with_excepts() -> None:
    addrs = [f"{a}.{b}.1.1" for a in range(20, 40) for b in range(0, 200, 40)]
    blocks = aggregate(addrs, max_blocks=10)
    assert [b.cidr for b in blocks] == ["0.0.0.0/0"]
    peer = ip_block(blocks[0])
    assert "10.0.0.0/8" in peer["ipBlock"]["except"]
    assert "169.254.0.0/16" in peer["ipBlock"]["except"]


def test_bad_address_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not an IP address"):
        aggregate(["10.0.0.1", "not-an-ip"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0x01000000, max_value=0xDFFFFFFF), min_size=1,
                max_size=40))
def test_every_address_covered_once_and_waste_bounded(nums: list[int]) -> None:
    addrs = [str(ipaddress.IPv4Address(n)) for n in nums]
    blocks = aggregate(addrs, max_blocks=1000)
    for addr in set(addrs):
        ip = ipaddress.ip_address(addr)
        assert sum(ip in b.network for b in blocks) == 1
    for b in blocks:
        assert b.network.prefixlen >= 24 or b.cidr == "0.0.0.0/0"
        inside = {a for a in addrs if ipaddress.ip_address(a) in b.network}
        assert b.observed == len(inside)
        assert b.network.num_addresses <= 64 * len(inside)
