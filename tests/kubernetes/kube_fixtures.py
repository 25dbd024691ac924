"""Realistic kube-system objects as clusters carry them, for detection and preflight tests.

kube-proxy: the ``kube-system/kube-proxy`` ConfigMap that ``kubeadm init`` writes (its
``config.conf`` is the full KubeProxyConfiguration kubeadm renders with defaulted zero values;
this one is from kubeadm 1.31, where the ``nftables`` section exists since 1.29). kubeadm writes
``mode: ""``; users pick ipvs/nftables through ``kubeadm init --config`` with a
KubeProxyConfiguration document, which lands in the same key.

cilium-config: key sets as the Helm chart (install/kubernetes/cilium/templates/
cilium-configmap.yaml) renders them with default values plus the options named in each fixture,
abbreviated to the keys that matter here and a few neighbours (so a parser that depends on key
order or on the absence of unrelated keys would fail):
- 1.13 (and 1.14 upgraded keeping the deprecated Helm ``tunnel`` value): ``tunnel:`` only,
  ``kube-proxy-replacement: strict|partial|probe|disabled``;
- 1.14: ``routing-mode`` + ``tunnel-protocol`` introduced, ``tunnel`` deprecated (still
  rendered when set), ``kube-proxy-replacement`` true/false (old values still accepted);
- 1.15..1.19: ``tunnel`` gone, ``kube-proxy-replacement`` only true/false; ``bpf-lb-map-max``
  rendered only when ``bpf.lbMapMax`` is set.
"""

from __future__ import annotations

from typing import Any

KUBEADM_KUBE_PROXY_CONF = """\
apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 10.244.0.0/16
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpBeLiberal: false
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
  udpStreamTimeout: 0s
  udpTimeout: 0s
detectLocal:
  bridgeInterface: ""
  interfaceNamePrefix: ""
detectLocalMode: ""
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  localhostNodePorts: null
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: {strict_arp}
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
kind: KubeProxyConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
    text:
      infoBufferSize: "0"
  verbosity: 0
metricsBindAddress: ""
mode: {mode}
nftables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
nodePortAddresses: null
oomScoreAdj: null
portRange: ""
showHiddenMetricsForProbes: ""
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: ""
  rootHnsEndpointName: ""
  sourceVip: ""
"""

KUBEADM_KUBECONFIG_CONF = """\
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    server: https://control-plane.example.invalid:6443
  name: default
contexts:
- context:
    cluster: default
    namespace: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
"""


def kube_proxy_config_map(mode: str) -> dict[str, Any]:
    """``mode`` as written in the file: '""' (kubeadm default), 'ipvs', 'nftables'..."""
    conf = KUBEADM_KUBE_PROXY_CONF.format(
        mode=mode, strict_arp="true" if mode == "ipvs" else "false"
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "kube-proxy",
            "namespace": "kube-system",
            "labels": {"app": "kube-proxy"},
            "annotations": {"kubeadm.kubernetes.io/component-config.hash": "sha256:0"},
        },
        "data": {"config.conf": conf, "kubeconfig.conf": KUBEADM_KUBECONFIG_CONF},
    }


_CILIUM_COMMON = {
    "identity-allocation-mode": "crd",
    "debug": "false",
    "enable-ipv4": "true",
    "enable-ipv6": "false",
    "custom-cni-conf": "false",
    "enable-bpf-clock-probe": "false",
    "monitor-aggregation": "medium",
    "monitor-aggregation-interval": "5s",
    "monitor-aggregation-flags": "all",
    "bpf-map-dynamic-size-ratio": "0.0025",
    "bpf-policy-map-max": "16384",
    "preallocate-bpf-maps": "false",
    "cluster-name": "default",
    "cluster-id": "0",
    "ipam": "cluster-pool",
    "cluster-pool-ipv4-cidr": "10.0.0.0/8",
    "cluster-pool-ipv4-mask-size": "24",
    "enable-l7-proxy": "true",
    "enable-ipv4-masquerade": "true",
    "enable-bpf-masquerade": "false",
    "install-no-conntrack-iptables-rules": "false",
    "auto-direct-node-routes": "false",
    "enable-local-redirect-policy": "false",
    "enable-health-checking": "true",
    "enable-endpoint-health-checking": "true",
    "synchronize-k8s-nodes": "true",
    "operator-api-serve-addr": "127.0.0.1:9234",
    "bpf-root": "/sys/fs/bpf",
    "cgroup-root": "/run/cilium/cgroupv2",
}


def cilium_config_data(version: str, **options: str) -> dict[str, str]:
    """cilium-config ``data`` for Helm defaults of ``version`` ("1.13".."1.19") plus
    ``options`` (keys with dashes given as underscores)."""
    minor = int(version.split(".")[1])
    data = dict(_CILIUM_COMMON)
    data["enable-hubble"] = "true"  # Helm default hubble.enabled=true since 1.9
    data["hubble-socket-path"] = "/var/run/cilium/hubble.sock"
    data["hubble-disable-tls"] = "false"
    if minor <= 13:
        data["tunnel"] = "vxlan"
        data["kube-proxy-replacement"] = "disabled"
    else:
        data["routing-mode"] = "tunnel"
        data["tunnel-protocol"] = "vxlan"
        data["kube-proxy-replacement"] = "false"
    if minor >= 15:
        data["enable-node-port"] = "false"
        data["bpf-lb-sock"] = "false"
    if minor >= 16:
        data["bpf-lb-acceleration"] = "disabled"
        data["enable-masquerade-to-route-source"] = "false"
    if minor >= 17:
        data["enable-source-ip-verification"] = "true"
    if minor >= 18:
        data["policy-default-local-cluster"] = "false"
    for key, value in options.items():
        data[key.replace("_", "-")] = value
    return data


def cilium_config_map(version: str, **options: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cilium-config", "namespace": "kube-system"},
        "data": cilium_config_data(version, **options),
    }


def daemon_set(namespace: str, name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace, "generation": 1},
        "spec": {
            "selector": {"matchLabels": {"k8s-app": name}},
            "template": {
                "metadata": {"labels": {"k8s-app": name}},
                "spec": {"containers": [{"name": name.split("-")[0], "image": image}]},
            },
        },
        "status": {
            "desiredNumberScheduled": 3,
            "updatedNumberScheduled": 3,
            "numberReady": 3,
            "numberAvailable": 3,
            "observedGeneration": 1,
        },
    }


def cilium_daemon_set(version: str) -> dict[str, Any]:
    return daemon_set(
        "kube-system",
        "cilium",
        f"quay.io/cilium/cilium:v{version}@sha256:" + "0" * 64,
    )


def existing_service(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"port": 443, "protocol": "TCP"}]},
    }
