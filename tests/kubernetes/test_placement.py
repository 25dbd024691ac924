from __future__ import annotations

import pytest

from exporter.targets.kubernetes.errors import PlacementError
from exporter.targets.kubernetes.fake import FakeKubeClient, make_node
from exporter.targets.kubernetes.placement import PlacementSettings, choose_nodes


def _nodes() -> list[dict[str, object]]:
    return [
        make_node("worker-c", internal_ip="192.0.2.13"),
        make_node("cp-1", internal_ip="192.0.2.10", control_plane=True),
        make_node("worker-b", internal_ip="192.0.2.12"),
        make_node("worker-a", internal_ip="192.0.2.11", ready=False),
        make_node("worker-d", internal_ip="192.0.2.14", unschedulable=True),
        make_node(
            "worker-0gpu",
            internal_ip="192.0.2.15",
            taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}],
        ),
    ]


def test_auto_picks_first_two_eligible_by_name_through_the_client() -> None:
    client = FakeKubeClient()
    for node in reversed(_nodes()):
        client.add_node(node)
    placement = choose_nodes(client.list_nodes(), PlacementSettings())
    assert (placement.server.name, placement.client.name) == ("worker-b", "worker-c")
    assert placement.server.internal_ip == "192.0.2.12"
    assert placement.record() == {
        "server_node": "worker-b",
        "client_node": "worker-c",
        "placement": "auto",
    }


def test_choice_is_independent_of_list_order() -> None:
    nodes = _nodes()
    a = choose_nodes(nodes, PlacementSettings())
    b = choose_nodes(list(reversed(nodes)), PlacementSettings())
    assert a == b


def test_selector_restricts_candidates() -> None:
    nodes = [
        make_node("n1", internal_ip="192.0.2.1", labels={"pool": "bench"}),
        make_node("n2", internal_ip="192.0.2.2"),
        make_node("n3", internal_ip="192.0.2.3", labels={"pool": "bench"}),
    ]
    p = choose_nodes(nodes, PlacementSettings(node_selector={"pool": "bench"}))
    assert (p.server.name, p.client.name, p.how) == ("n1", "n3", "selected")


def test_named_nodes_may_be_control_plane_but_must_be_ready() -> None:
    nodes = _nodes()
    p = choose_nodes(nodes, PlacementSettings(server_node="cp-1", client_node="worker-c"))
    assert (p.server.name, p.client.name, p.how) == ("cp-1", "worker-c", "named")
    with pytest.raises(PlacementError, match=r"worker-a.*not Ready"):
        choose_nodes(nodes, PlacementSettings(server_node="worker-a", client_node="worker-c"))
    with pytest.raises(PlacementError, match="does not exist"):
        choose_nodes(nodes, PlacementSettings(server_node="nope", client_node="worker-c"))
    with pytest.raises(PlacementError, match="both"):
        choose_nodes(nodes, PlacementSettings(server_node="worker-b"))
    with pytest.raises(PlacementError, match="different"):
        choose_nodes(nodes, PlacementSettings(server_node="worker-b", client_node="worker-b"))


def test_too_few_nodes_says_why_each_was_rejected() -> None:
    nodes = [
        make_node("cp", internal_ip="192.0.2.1", control_plane=True),
        make_node("w1", internal_ip="192.0.2.2"),
        make_node("w2", internal_ip="192.0.2.3", ready=False),
    ]
    with pytest.raises(PlacementError) as err:
        choose_nodes(nodes, PlacementSettings())
    assert "found 1" in str(err.value)
    assert "cp: control-plane node" in str(err.value)
    assert "w2: not Ready" in str(err.value)
