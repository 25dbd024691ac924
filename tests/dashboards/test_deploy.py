"""The local stack's files: Prometheus config valid, compose mounts point at what exists."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dashboards import verify

DEPLOY = verify.ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yaml"
PROM_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
CONTAINER_RULES = "/etc/prometheus/rules/netbench-rules.yaml"


@pytest.mark.prometheus
def test_compose_prometheus_config_is_valid(tmp_path: Path) -> None:
    """promtool check config, with the container's rule path mapped to the committed file."""
    text = PROM_CONFIG.read_text("utf-8")
    assert CONTAINER_RULES in text
    config = tmp_path / "prometheus.yml"
    config.write_text(text.replace(CONTAINER_RULES, str(verify.RULE_FILE)), encoding="utf-8")
    result = verify.promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_services_and_mounts() -> None:
    compose = yaml.safe_load(COMPOSE.read_text("utf-8"))
    services = compose["services"]
    assert set(services) == {"netbench", "prometheus", "grafana"}
    netbench = services["netbench"]
    assert netbench["privileged"] is True
    assert netbench["build"] == {"context": "..", "dockerfile": "Dockerfile"}
    assert netbench["environment"]["NETBENCH_TARGET"] == "lab"
    assert netbench["command"][:2] == ["netbench", "serve"]
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), source
    mounted = {v.split(":")[1] for v in services["prometheus"]["volumes"]}
    assert CONTAINER_RULES in mounted


def test_grafana_provisioning_matches_compose_and_dashboards() -> None:
    datasources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text("utf-8")
    )
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    assert source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/netbench.yaml").read_text("utf-8")
    )
    (provider,) = providers["providers"]
    compose = yaml.safe_load(COMPOSE.read_text("utf-8"))
    grafana_mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert grafana_mounts["../dashboards/generated"] == provider["options"]["path"]
    assert list((verify.ROOT / "dashboards/generated").glob("*.json"))
