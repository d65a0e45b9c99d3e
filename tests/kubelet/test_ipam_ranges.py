"""Each local cluster hands out pod addresses from its own 127.N range; allocation wraps at the top."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from numaflux.kubelet.ipam import AddressPool, first_address_for


@given(st.text(alphabet="abcdefghij/_-", min_size=1, max_size=30))
def test_a_cluster_starts_at_127_n_0_1_with_n_in_1_to_254_the_same_every_time(name: str) -> None:
    data_dir = Path("/tmp/clusters") / name
    first = first_address_for(data_dir)
    _, second, third, fourth = (int(p) for p in first.split("."))
    assert 1 <= second <= 254 and (third, fourth) == (0, 1)
    assert first_address_for(data_dir) == first


def test_clusters_in_different_directories_get_different_ranges() -> None:
    firsts = {first_address_for(Path(f"/tmp/t{i}/controller0/local")) for i in range(10)}
    assert len(firsts) >= 8


def test_a_pool_starts_at_its_first_address_and_wraps_to_127_1_0_1(tmp_path: Path) -> None:
    pool = AddressPool(tmp_path / "ips.json", "127.7.0.1")
    assert pool.allocate("a", "ns", "a") == "127.7.0.1"
    top = AddressPool(tmp_path / "top.json", "127.254.255.253")
    got = [top.allocate(str(i), "ns", str(i)) for i in range(3)]
    assert got == ["127.254.255.253", "127.254.255.254", "127.1.0.1"]
    assert all(ipaddress.IPv4Address(ip).is_loopback for ip in got)
