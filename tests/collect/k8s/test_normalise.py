"""Pure normalisers: API defaults, IP canonical form, registry."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from toolkit.collect.k8s import normalise as nm


def test_policy_types_default_like_the_api() -> None:
    def types(spec: dict) -> list[str]:
        obj = {"kind": "NetworkPolicy", "metadata": {"name": "p"}, "spec": spec}
        return nm.network_policy(obj)[0]["policy_types"]

    assert types({"podSelector": {}}) == ["Ingress"]
    assert types({"egress": [{}]}) == ["Ingress", "Egress"]
    assert types({"egress": []}) == ["Ingress"]
    assert types({"policyTypes": ["Egress"]}) == ["Egress"]


def test_host_network_pod_without_pod_ip_uses_host_ip() -> None:
    obj = {"kind": "Pod", "metadata": {"name": "h", "namespace": "k"},
           "spec": {"hostNetwork": True}, "status": {"hostIP": "10.0.0.9"}}
    row = nm.pod(obj)[0]
    assert (row["ip"], row["host_network"], row["workload_kind"]) == ("10.0.0.9", True, "Pod")


def test_every_registered_kind_has_an_api_path() -> None:
    assert nm.KINDS["EndpointSlice"].list_path("a") == \
        "/apis/discovery.k8s.io/v1/namespaces/a/endpointslices"
    assert nm.KINDS["Node"].list_path("a") == "/api/v1/nodes"
    assert nm.normalise_object({"kind": "Secret", "metadata": {"name": "s"}}) == []


@given(st.ip_addresses())
def test_canonical_ip_round_trips(address) -> None:
    text = nm.canonical_ip(str(address))
    assert text == address.compressed
    assert nm.canonical_ip(text) == text
    assert nm.ip_family(text) == f"IPv{address.version}"
