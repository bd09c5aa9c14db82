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


def test_endpoint_slice_port_error_names_the_first_endpoint_with_an_address() -> None:
    obj = {"kind": "EndpointSlice", "metadata": {"name": "s", "namespace": "a"},
           "addressType": "IPv4", "ports": [{"port": 80}, {"port": "http"}],
           "endpoints": [{"addresses": ["not-an-ip"]}, {"addresses": ["10.0.0.1"]}]}
    try:
        nm.endpoint_slice(obj)
    except nm.ObjectError as exc:
        assert exc.field == "endpoints[1].ports"
    else:
        raise AssertionError("a non-numeric port must be rejected")


def test_dual_stack_pod_rows_differ_only_in_ip() -> None:
    obj = {"kind": "Pod", "metadata": {"name": "p", "namespace": "a", "uid": "u",
                                       "labels": {"b": "2", "a": None}},
           "status": {"podIPs": [{"ip": "10.0.0.1"}, {"ip": "FD00::1"}]}}
    v4, v6 = nm.pod(obj)
    assert (v4["ip"], v4["ip_family"], v6["ip"], v6["ip_family"]) == (
        "10.0.0.1", "IPv4", "fd00::1", "IPv6")
    assert {k: v for k, v in v4.items() if k not in ("ip", "ip_family")} == {
        k: v for k, v in v6.items() if k not in ("ip", "ip_family")}
    assert v4["labels"] == [{"key": "a", "value": ""}, {"key": "b", "value": "2"}]


def test_labels_sort_by_key_text_keeping_ties_in_order() -> None:
    assert nm.labels({2: "x", "10": "y", "1": None}) == [
        {"key": "1", "value": ""}, {"key": "10", "value": "y"}, {"key": "2", "value": "x"}]
    assert nm.labels({1: "int", "1": "str"}) == [
        {"key": "1", "value": "int"}, {"key": "1", "value": "str"}]


def test_label_cache_stays_bounded_and_still_shares_equal_maps() -> None:
    from toolkit.collect.k8s import values

    first = values.labels({"app": "web", "pod-template-hash": "abc"})
    assert values.labels({"app": "web", "pod-template-hash": "abc"}) is first
    for i in range(3 * values.LABELS_CACHED):
        assert values.labels({"app": f"a{i}"}) == [{"key": "app", "value": f"a{i}"}]
        assert len(values._LABELS) <= values.LABELS_CACHED
    again = values.labels({"app": "web", "pod-template-hash": "abc"})
    assert again == first  # evicted by now, rebuilt equal
    assert values.labels({"app": "web", "pod-template-hash": "abc"}) is again
