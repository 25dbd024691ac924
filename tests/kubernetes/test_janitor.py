from __future__ import annotations

import json
from pathlib import Path

import pytest
from kube_fixtures import cilium_config_map, cilium_daemon_set

from exporter.targets.kubernetes.errors import JournalError, KubeError
from exporter.targets.kubernetes.fake import FakeKubeClient
from exporter.targets.kubernetes.janitor import Janitor, MutationJournal
from exporter.targets.kubernetes.objects import ObjectSettings, namespace


def _janitor(client: FakeKubeClient, path: Path, instance: str = "default") -> Janitor:
    return Janitor(
        client,
        MutationJournal(path),
        ObjectSettings(instance=instance),
        clock=client.clock,
        now=lambda: "2026-01-01T00:00:00Z",
    )


def _cluster() -> FakeKubeClient:
    client = FakeKubeClient()
    client.seed(cilium_config_map("1.18", enable_hubble="true"))
    client.seed(cilium_daemon_set("1.18.3"))
    return client


def test_revert_after_a_crash_from_a_fresh_process(tmp_path: Path) -> None:
    client = _cluster()
    journal = tmp_path / "state" / "mutations.jsonl"
    j1 = _janitor(client, journal)
    j1.patch_config_map(
        "kube-system",
        "cilium-config",
        "enable-hubble",
        "false",
        restart=("kube-system", "cilium"),
        reason="observability off",
    )
    j1.patch_config_map("kube-system", "cilium-config", "bpf-lb-map-max", "131072")
    data = client.get_config_map("kube-system", "cilium-config")["data"]
    assert (data["enable-hubble"], data["bpf-lb-map-max"]) == ("false", "131072")
    # crash: j1 is gone; a new exporter starts with only the journal file
    del j1
    j2 = _janitor(client, journal)
    outcomes = j2.revert_all()
    assert [o.outcome for o in outcomes] == ["reverted", "reverted"]
    data = client.get_config_map("kube-system", "cilium-config")["data"]
    assert data["enable-hubble"] == "true"
    assert "bpf-lb-map-max" not in data  # did not exist before: deleted, not set to ""
    restarts = client.calls_of("patch", "daemonsets")
    assert len(restarts) == 2  # once on apply, once on revert
    assert MutationJournal(journal).pending() == []
    assert j2.revert_all() == []  # idempotent


def test_journal_is_written_before_the_patch(tmp_path: Path) -> None:
    client = _cluster()
    client.fail("patch", "configmaps", 500, reason="InternalError")
    j = _janitor(client, tmp_path / "j")
    with pytest.raises(KubeError):
        j.patch_config_map("kube-system", "cilium-config", "enable-hubble", "false")
    pending = MutationJournal(tmp_path / "j").pending()
    assert len(pending) == 1
    # the patch never happened: the revert notices and does not write
    outcomes = j.revert_all()
    assert [o.outcome for o in outcomes] == ["not-applied"]
    assert client.calls_of("patch", "configmaps")[1:] == []


def test_conflicting_change_is_not_clobbered(tmp_path: Path) -> None:
    client = _cluster()
    j = _janitor(client, tmp_path / "j")
    j.patch_config_map("kube-system", "cilium-config", "enable-hubble", "false")
    client.patch_config_map_data("kube-system", "cilium-config", {"enable-hubble": "maybe"})
    [outcome] = j.revert_all()
    assert outcome.outcome == "conflict"
    assert "NOT reverted" in outcome.describe()
    assert client.get_config_map("kube-system", "cilium-config")["data"]["enable-hubble"] == "maybe"


def test_no_op_patch_is_not_journalled(tmp_path: Path) -> None:
    client = _cluster()
    j = _janitor(client, tmp_path / "j")
    assert j.patch_config_map("kube-system", "cilium-config", "enable-hubble", "true") is None
    assert client.calls_of("patch", "configmaps") == []


def test_torn_last_line_is_ignored_but_corruption_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "j"
    client = _cluster()
    j = _janitor(client, path)
    j.patch_config_map("kube-system", "cilium-config", "enable-hubble", "false")
    with path.open("a") as f:
        f.write('{"op": "apply", "id": "tor')
    assert len(MutationJournal(path).pending()) == 1
    path.write_text("garbage\n" + json.dumps({"op": "revert", "id": "x"}) + "\n")
    with pytest.raises(JournalError, match=":1"):
        MutationJournal(path).pending()


def test_delete_owned_by_label_only_ours(tmp_path: Path) -> None:
    client = FakeKubeClient(namespace_termination_seconds=3)
    ours = ObjectSettings(instance="default")
    theirs = ObjectSettings(instance="other")
    client.create_namespace(namespace(ours, "nb-bench-s1", "s1", "benchmark"))
    client.create_namespace(namespace(ours, "nb-scale-s2", "s2", "scale"))
    client.create_namespace(namespace(theirs, "nb-bench-x", "x", "benchmark"))
    client.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}})
    j = _janitor(client, tmp_path / "j")
    assert j.delete_owned(sweep="s1") == ["nb-bench-s1"]
    reverted, deleted = j.startup(timeout=30)
    assert reverted == []
    assert sorted(deleted) == ["nb-bench-s1", "nb-scale-s2"]
    assert not client.exists("namespaces", None, "nb-scale-s2")
    assert client.exists("namespaces", None, "nb-bench-x")
    assert client.exists("namespaces", None, "prod")


def test_wait_namespaces_gone_times_out(tmp_path: Path) -> None:
    client = FakeKubeClient(namespace_termination_seconds=1e9)
    client.create_namespace(namespace(ObjectSettings(), "nb-x", "s", "benchmark"))
    j = _janitor(client, tmp_path / "j")
    names = j.delete_owned()
    with pytest.raises(KubeError, match="still terminating"):
        j.wait_namespaces_gone(names, timeout=10)
