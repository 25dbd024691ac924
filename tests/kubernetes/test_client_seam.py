"""The seam's own logic that needs no API server: error translation, exec status, manifests.
(These tests do not import ``kubernetes``; the ApiException is duck-typed.)"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from exporter.errors import TargetError
from exporter.targets.kubernetes.client import (
    ConnectionSettings,
    exec_returncode,
    load_configuration,
    translate_api_exception,
)
from exporter.targets.kubernetes.errors import (
    ExecTimeout,
    KubeApiError,
    KubeConfigError,
    KubeConflict,
    KubeForbidden,
    KubeNotFound,
    KubeTooManyRequests,
)
from exporter.targets.kubernetes.fake import ExecScript, FakeKubeClient, make_node


def _api_exception(status: int, body: dict[str, Any] | str, headers: dict[str, str]) -> Any:
    raw = json.dumps(body) if isinstance(body, dict) else body
    return SimpleNamespace(status=status, reason="reason", body=raw, headers=headers)


def test_429_carries_retry_after_from_header_or_status_details() -> None:
    err = translate_api_exception(
        _api_exception(
            429, {"reason": "TooManyRequests", "message": "slow down"}, {"Retry-After": "7"}
        ),
        verb="create",
        resource="services",
        namespace="ns",
        name="a",
    )
    assert isinstance(err, KubeTooManyRequests) and isinstance(err, TargetError)
    assert err.retry_after == 7.0
    assert "create ns/services/a: 429 TooManyRequests: slow down" in str(err)
    err = translate_api_exception(
        _api_exception(429, {"details": {"retryAfterSeconds": 3}}, {}),
        verb="list",
        resource="pods",
    )
    assert err.retry_after == 3.0
    err = translate_api_exception(_api_exception(429, "", {}), verb="list", resource="pods")
    assert err.retry_after == 1.0  # no hint: a default, never zero


@pytest.mark.parametrize(
    ("status", "cls"),
    [(404, KubeNotFound), (409, KubeConflict), (403, KubeForbidden), (500, KubeApiError)],
)
def test_status_classes(status: int, cls: type[KubeApiError]) -> None:
    err = translate_api_exception(
        _api_exception(status, "plain text", {}), verb="get", resource="pods"
    )
    assert type(err) is cls and err.status == status


def test_websocket_handshake_status_is_recovered() -> None:
    exc = SimpleNamespace(
        status=0, reason="Handshake status 404 Not Found", body=None, headers=None
    )
    assert isinstance(translate_api_exception(exc, verb="exec", resource="pods/exec"), KubeNotFound)


def test_exec_returncode_from_the_error_channel() -> None:
    assert exec_returncode("", "p") == 0
    assert exec_returncode(json.dumps({"status": "Success"}), "p") == 0
    failure = {
        "status": "Failure",
        "reason": "NonZeroExitCode",
        "message": "command terminated with non-zero exit code: exit status 3",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }
    assert exec_returncode(json.dumps(failure), "p") == 3
    with pytest.raises(KubeApiError, match="container not found"):
        exec_returncode(
            json.dumps({"status": "Failure", "code": 500, "message": "container not found"}), "p"
        )


def test_configuration_is_explicit_and_failures_are_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubeConfigError, match="in-cluster"):
        load_configuration(ConnectionSettings(mode="in-cluster"))
    with pytest.raises(KubeConfigError, match="kubeconfig"):
        load_configuration(ConnectionSettings(mode="kubeconfig", kubeconfig=tmp_path / "none"))
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://192.0.2.1:6443'}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    cfg = load_configuration(ConnectionSettings(mode="kubeconfig", kubeconfig=kubeconfig))
    assert cfg.host == "https://192.0.2.1:6443"  # loaded, never contacted


def test_fake_exec_semantics() -> None:
    client = FakeKubeClient()
    client.add_node(make_node("w", internal_ip="192.0.2.1"))
    client.seed({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"nodeName": "w", "containers": [{"name": "c", "image": "i"}]},
    }
    client.create_pod("n", pod)
    with pytest.raises(KubeConflict):
        client.create_pod("n", pod)
    with pytest.raises(KubeNotFound):
        client.exec("n", "missing", "c", ["true"], 5)
    with pytest.raises(KubeApiError, match="not valid"):
        client.exec("n", "p", "nope", ["true"], 5)
    assert client.exec("n", "p", "c", ["nosuchtool"], 5).returncode == 127
    client.script_exec(ExecScript(r"^slow", seconds=30))
    start = client.clock.monotonic()
    with pytest.raises(ExecTimeout):
        client.exec("n", "p", "c", ["slow"], 5)
    assert client.clock.monotonic() - start == 5
    client.script_exec(ExecScript(r"^fail", returncode=2, stderr="boom"))
    r = client.exec("n", "p", "c", ["fail"], 5)
    assert (r.returncode, r.stderr) == (2, "boom")
    assert [c.verb for c in client.calls_of("create", "pods/exec")] == ["create"] * 5
