"""Every overlay builds with ``kubectl kustomize`` and every object validates against the
official schemas of Kubernetes 1.30..1.34 (kubernetes-validate, strict). The two Prometheus
Operator custom resources are skipped by kubernetes-validate (no schema) and validated here
against the fields of their CRDs (monitoring.coreos.com/v1) that we use, strictly. The
Deployment is checked rule by rule against the Pod Security "restricted" profile, and its
configuration is loaded by the exporter's own config loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from deploy_helpers import DEPLOY, OVERLAYS, build, find

from exporter.config import load_settings

VERSIONS = ("1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0")
CUSTOM_RESOURCES = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
"""Allow-list: kinds kubernetes-validate has no schema for, validated structurally below."""


def _strict(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_STR = {"type": "string"}
_LABELS = {"type": "object", "additionalProperties": _STR}
_META = _strict(
    {"name": _STR, "namespace": _STR, "labels": _LABELS, "annotations": _LABELS},
    ("name", "namespace"),
)
# Fields and types from the prometheus-operator CRDs (monitoring.coreos.com_servicemonitors /
# _prometheusrules, v1), restricted to what we use: anything else is a typo or needs adding here.
_DURATION = {
    "type": "string",
    "pattern": (
        r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?"
        r"(([0-9]+)ms)?)$"
    ),
}
CRD_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": _strict(
        {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "ServiceMonitor"},
            "metadata": _META,
            "spec": _strict(
                {
                    "selector": _strict({"matchLabels": _LABELS}),
                    "namespaceSelector": _strict({"matchNames": {"type": "array", "items": _STR}}),
                    "endpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": _strict(
                            {
                                "port": _STR,
                                "path": _STR,
                                "scheme": {"enum": ["http", "https"]},
                                "interval": _DURATION,
                                "scrapeTimeout": _DURATION,
                                "honorLabels": {"type": "boolean"},
                            }
                        ),
                    },
                },
                ("selector", "endpoints"),
            ),
        },
        ("apiVersion", "kind", "metadata", "spec"),
    ),
    "PrometheusRule": _strict(
        {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "PrometheusRule"},
            "metadata": _META,
            "spec": _strict(
                {
                    "groups": {
                        "type": "array",
                        "items": _strict(
                            {
                                "name": {"type": "string", "minLength": 1},
                                "interval": _DURATION,
                                "rules": {
                                    "type": "array",
                                    "items": _strict(
                                        {
                                            "alert": _STR,
                                            "record": _STR,
                                            "expr": {"type": ["string", "integer"]},
                                            "for": _DURATION,
                                            "keep_firing_for": _DURATION,
                                            "labels": _LABELS,
                                            "annotations": _LABELS,
                                        },
                                        ("expr",),
                                    ),
                                },
                            },
                            ("name", "rules"),
                        ),
                    }
                },
                ("groups",),
            ),
        },
        ("apiVersion", "kind", "metadata", "spec"),
    ),
}

CASES = [
    pytest.param(overlay, i, id=f"{overlay}-{o['kind']}-{o['metadata']['name']}")
    for overlay in OVERLAYS
    for i, o in enumerate(build(overlay))
    if (o["apiVersion"], o["kind"]) not in CUSTOM_RESOURCES
]
"""Custom resources are left out (kubernetes-validate has no schema for them: see
test_only_allow_listed_kinds_lack_a_schema) and checked against their CRD fields instead."""


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_with_the_expected_objects(overlay: str) -> None:
    objs = build(overlay)
    kinds = {o["kind"] for o in objs}
    assert {
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
    } <= kinds
    for o in objs:
        namespaced = o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding")
        ns = o["metadata"].get("namespace")
        assert (ns is not None) == namespaced, f"{o['kind']}/{o['metadata']['name']}: ns {ns}"
        if namespaced:
            expected = "kube-system" if o["kind"] in ("Role", "RoleBinding") else "netbench"
            assert ns == expected, f"{o['kind']}/{o['metadata']['name']} in {ns}"
        assert o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "netbench"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("overlay", "index"), CASES)
def test_official_schema_strict(overlay: str, index: int, version: str) -> None:
    obj = build(overlay)[index]
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as err:
        pytest.fail(f"{obj['kind']} invalid on {version}: {err.message} at {list(err.path)}")


def test_only_allow_listed_kinds_lack_a_schema() -> None:
    for overlay in OVERLAYS:
        for obj in build(overlay):
            try:
                kubernetes_validate.validate(obj, VERSIONS[0], strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                assert (obj["apiVersion"], obj["kind"]) in CUSTOM_RESOURCES, obj["kind"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_match_their_crd(overlay: str) -> None:
    objs = build(overlay)
    for kind, schema in CRD_SCHEMAS.items():
        obj = find(objs, kind)
        jsonschema.validate(obj, schema)
    monitor, service = find(objs, "ServiceMonitor"), find(objs, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    ports = {p["name"] for p in service["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports


def test_crd_schemas_are_strict() -> None:
    monitor = find(build("cilium"), "ServiceMonitor")
    monitor["spec"]["endpoints"][0]["honourLabels"] = True
    with pytest.raises(jsonschema.ValidationError, match="honourLabels"):
        jsonschema.validate(monitor, CRD_SCHEMAS["ServiceMonitor"])


def test_prometheus_rule_is_the_generated_one() -> None:
    generated = yaml.safe_load((DEPLOY / "base" / "prometheusrule.yaml").read_text())
    built = find(build("kube-proxy"), "PrometheusRule")
    assert built["spec"] == generated["spec"]


# -- Pod Security "restricted" (https://kubernetes.io/docs/concepts/security/pod-security-standards/)

_ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
_SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """Every Pod Security Standards rule, baseline and restricted, that ``pod`` (a PodSpec)
    breaks."""
    out = []
    psc = pod.get("securityContext") or {}
    containers = [
        *pod.get("initContainers", []),
        *pod["containers"],
        *pod.get("ephemeralContainers", []),
    ]
    # baseline
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            out.append(f"host namespaces: {key}")
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        out.append("hostProcess")
    for v in pod.get("volumes", []):
        kinds = set(v) - {"name"}
        if "hostPath" in kinds:
            out.append(f"hostPath volume {v['name']}")
        if not kinds <= _ALLOWED_VOLUMES:
            out.append(f"volume type {kinds - _ALLOWED_VOLUMES} ({v['name']})")
    for sysctl in psc.get("sysctls", []):
        if sysctl["name"] not in _SAFE_SYSCTLS:
            out.append(f"unsafe sysctl {sysctl['name']}")
    if (psc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        out.append("pod AppArmor Unconfined")
    # restricted, pod level
    pod_nonroot = psc.get("runAsNonRoot") is True
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        out.append(f"pod seccomp {pod_seccomp}")
    if psc.get("runAsUser") == 0:
        out.append("pod runAsUser 0")
    for c in containers:
        name = c["name"]
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f"{name}: privileged")
        caps = sc.get("capabilities") or {}
        added = set(caps.get("add") or [])
        if not added <= {"NET_BIND_SERVICE"}:
            out.append(f"{name}: adds capabilities {sorted(added)}")
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{name}: does not drop ALL capabilities")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            out.append(f"{name}: hostPort")
        if sc.get("procMount") not in (None, "Default"):
            out.append(f"{name}: procMount {sc['procMount']}")
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            out.append(f"{name}: AppArmor Unconfined")
        selinux_type = (sc.get("seLinuxOptions") or {}).get("type")
        if selinux_type not in (None, "", "container_t", "container_init_t", "container_kvm_t"):
            out.append(f"{name}: SELinux type {selinux_type}")
        if (sc.get("seLinuxOptions") or {}).get("user") or (sc.get("seLinuxOptions") or {}).get(
            "role"
        ):
            out.append(f"{name}: SELinux user/role")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation not false")
        nonroot = sc.get("runAsNonRoot", pod_nonroot)
        if nonroot is not True:
            out.append(f"{name}: runAsNonRoot not true")
        if sc.get("runAsUser") == 0:
            out.append(f"{name}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{name}: seccomp profile {seccomp}")
    return out


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_meets_pod_security_restricted(overlay: str) -> None:
    deployment = find(build(overlay), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    c = pod["containers"][0]
    # what the brief asks beyond the profile
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    uid = c["securityContext"].get("runAsUser", pod["securityContext"].get("runAsUser"))
    assert isinstance(uid, int) and uid > 0
    namespace = find(build(overlay), "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_restricted_check_catches_each_rule() -> None:
    good = find(build("kube-proxy"), "Deployment")["spec"]["template"]["spec"]
    breaks: list[tuple[str, Any]] = [
        ("hostNetwork", lambda p: p.update(hostNetwork=True)),
        ("hostPath", lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}})),
        ("privileged", lambda p: p["containers"][0]["securityContext"].update(privileged=True)),
        (
            "adds capabilities",
            lambda p: p["containers"][0]["securityContext"]["capabilities"].update(
                add=["NET_ADMIN"]
            ),
        ),
        (
            "drop ALL",
            lambda p: p["containers"][0]["securityContext"]["capabilities"].update(drop=[]),
        ),
        (
            "allowPrivilegeEscalation",
            lambda p: p["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
        ),
        (
            "runAsNonRoot",
            lambda p: (
                p["containers"][0]["securityContext"].pop("runAsNonRoot"),
                p["securityContext"].pop("runAsNonRoot"),
            ),
        ),
        ("runAsUser 0", lambda p: p["containers"][0]["securityContext"].update(runAsUser=0)),
        (
            "seccomp",
            lambda p: (
                p["containers"][0]["securityContext"].pop("seccompProfile"),
                p["securityContext"].pop("seccompProfile"),
            ),
        ),
        ("hostPort", lambda p: p["containers"][0]["ports"][0].update(hostPort=9101)),
        (
            "unsafe sysctl",
            lambda p: p["securityContext"].update(
                sysctls=[{"name": "kernel.msgmax", "value": "1"}]
            ),
        ),
    ]
    for what, mutate in breaks:
        pod = yaml.safe_load(yaml.safe_dump(good))
        mutate(pod)
        found = restricted_violations(pod)
        assert any(what in v for v in found), (what, found)


# -- the Deployment and its configuration -----------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_shape(overlay: str) -> None:
    objs = build(overlay)
    d = find(objs, "Deployment")
    spec = d["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == find(objs, "ServiceAccount")["metadata"]["name"]
    (c,) = pod["containers"]
    assert ":" in c["image"] and not c["image"].endswith(":latest")
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert c["livenessProbe"]["httpGet"]["port"] in ports
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    # read-only root: every path the exporter writes is a volume
    for path in ("/tmp", "/run/netbench", "/var/lib/netbench"):
        assert path in mounts, path
    assert "persistentVolumeClaim" in volumes[mounts["/var/lib/netbench"]]
    config_map = find(objs, "ConfigMap", "netbench-config")
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    secret = find(objs, "Secret")
    assert volumes["api-token"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert secret["stringData"] == {"token": ""}, (
        "the committed token must stay an empty placeholder"
    )


def _settings(overlay: str, tmp_path: Path) -> Any:
    objs = build(overlay)
    c = find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c.get("env", [])}
    config_dir = next(m["mountPath"] for m in c["volumeMounts"] if m["name"] == "config")
    data = find(objs, "ConfigMap", "netbench-config")["data"]
    (name,) = data
    assert env["NETBENCH_CONFIG"] == f"{config_dir}/{name}"
    path = tmp_path / name
    path.write_text(data[name], encoding="utf-8")
    env["NETBENCH_CONFIG"] = str(path)
    return load_settings(None, env), c


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configuration_loads_and_matches_the_deployment(overlay: str, tmp_path: Path) -> None:
    settings, c = _settings(overlay, tmp_path)
    assert settings.target == "kubernetes"
    ports = {p["containerPort"] for p in c["ports"]}
    assert settings.exporter.port in ports
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert str(settings.exporter.db_path.parent) in mounts
    token_dir = str(settings.exporter.api_token_file.parent)
    assert token_dir in mounts
    assert settings.kubernetes.image == c["image"], "benchmark pods must run the same image"
    mutations = overlay == "mutations"
    assert settings.scale.auto_fix_lb_map is mutations
    kubernetes = getattr(settings, "kubernetes", None)
    if kubernetes is not None and hasattr(kubernetes, "allow_cluster_mutations"):
        assert kubernetes.allow_cluster_mutations is mutations


def test_own_namespace_is_not_the_janitors() -> None:
    """The janitor deletes namespaces labelled as ours; the exporter's own must never match."""
    ns = find(build("mutations"), "Namespace")
    labels = ns["metadata"]["labels"]
    assert "app.kubernetes.io/managed-by" not in labels
    assert not any(k.startswith("netbench.dev/") for k in labels)
