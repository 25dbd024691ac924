"""Every object netbench sends, validated against the official schemas of Kubernetes
1.30..1.34 (kubernetes-validate, strict: unknown fields rejected) and against the installed
client's models (what the seam sends through)."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from exporter.targets.kubernetes.client import to_model
from exporter.targets.kubernetes.errors import ManifestRejected
from exporter.targets.kubernetes.objects import (
    MANAGED_BY_LABEL,
    SWEEP_LABEL,
    EndpointPool,
    ObjectSettings,
    PodKind,
    PodResources,
    benchmark_pod,
    dummy_endpoint_slice,
    dummy_service,
    namespace,
    nginx_config_map,
    server_service,
)

VERSIONS = ("1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0")

SETTINGS = (
    ObjectSettings(),
    ObjectSettings(
        instance="prod-eu",
        image="registry.example.invalid/netbench:1.2.3",
        resources=PodResources(cpu_limit="2", memory_limit="2Gi"),
        priority_class="benchmark",
        service_account="netbench-bench",
    ),
)


def _objects(s: ObjectSettings) -> list[dict[str, Any]]:
    out = [
        namespace(s, "netbench-s1", "s1", "benchmark"),
        namespace(s, "netbench-scale-s1", "s1", "scale"),
        nginx_config_map(s, "netbench-s1", "s1"),
        server_service(s, name="netbench-server", ns="netbench-s1", sweep="s1"),
        dummy_service(s, index=0, ns="netbench-scale-s1", sweep="s1"),
        dummy_endpoint_slice(
            s, index=29999, ns="netbench-scale-s1", sweep="s1", endpoints=4, pool=EndpointPool()
        ),
        dummy_endpoint_slice(
            s,
            index=7,
            ns="netbench-scale-s1",
            sweep="s1",
            endpoints=1000,
            pool=EndpointPool("198.18.128.0/17"),
        ),
    ]
    out += [
        benchmark_pod(
            s, kind, name=f"nb-{kind.value}", ns="netbench-s1", node="worker-a", sweep="s1"
        )
        for kind in PodKind
    ]
    return out


CASES = [
    pytest.param(obj, id=f"{i}-{obj['kind']}-{obj['metadata']['name']}")
    for i, s in enumerate(SETTINGS)
    for obj in _objects(s)
]


def test_schema_versions_are_shipped() -> None:
    import importlib.resources as res

    shipped = {
        p.name
        for p in res.files("kubernetes_validate").joinpath("kubernetes-json-schema").iterdir()
    }
    for version in VERSIONS:
        assert f"v{version}-local-strict" in shipped


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("obj", CASES)
def test_official_schema_strict(obj: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as err:
        pytest.fail(
            f"{obj['kind']} {obj['metadata']['name']} invalid on {version}: "
            f"{err.message} at {list(err.path)}"
        )


@pytest.mark.parametrize("obj", CASES)
def test_client_model_strict_and_labels(obj: dict[str, Any]) -> None:
    to_model(obj)
    labels = obj["metadata"]["labels"]
    assert labels[MANAGED_BY_LABEL] == "netbench"
    assert labels[SWEEP_LABEL] == "s1"


def test_strict_validation_really_rejects_unknown_fields() -> None:
    pod = benchmark_pod(ObjectSettings(), PodKind.CLIENT, name="x", ns="n", node="w", sweep="s")
    pod["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, VERSIONS[0], strict=True)
    with pytest.raises(ManifestRejected, match="securityContxt"):
        to_model(pod)


def test_default_endpoints_stay_in_the_benchmark_range() -> None:
    import ipaddress

    bench = ipaddress.ip_network("198.18.0.0/15")
    pool = EndpointPool()
    for index in (0, 1, 30000, 10**6):
        for addr in pool.addresses(index, 4):
            assert ipaddress.ip_address(addr) in bench
