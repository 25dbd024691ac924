"""Which target a sweep runs on, built from :class:`~exporter.settings.Settings`.

``target_factory_for(settings)`` returns the factory the sweep runner calls with the resolved
plan; ``plan_resolver_for(settings)`` the plan resolver (on Kubernetes it fills in the
cluster's one datapath, detected from ``kube-system`` ConfigMaps, when neither the request nor
``kubernetes.datapath`` names it). The Kubernetes client is injectable (tests pass the fake).
Imports of the targets happen inside the factories: loading one never loads the other.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from exporter.errors import ConfigError
from exporter.settings import KubernetesSettings, Settings
from exporter.targets.base import Target

if TYPE_CHECKING:
    from exporter.sweep import SweepPlan, SweepRequest
    from exporter.targets.kubernetes.client import KubeClient
    from exporter.targets.kubernetes.target import TargetSettings

log = logging.getLogger(__name__)

TargetFactory = Callable[[Settings, "SweepPlan"], Target]
PlanResolver = Callable[[Settings, "SweepRequest"], "SweepPlan"]
KubeClientFactory = Callable[[KubernetesSettings], "KubeClient"]


def lab_target_factory(settings: Settings, plan: SweepPlan) -> Target:
    from exporter.targets.lab import LabTarget

    lab = dataclasses.replace(settings.lab, datapaths=plan.datapaths, routing=plan.routing)
    return LabTarget(lab)


def real_kube_client(k: KubernetesSettings) -> KubeClient:
    from exporter.targets.kubernetes.client import ConnectionSettings, RealKubeClient

    return RealKubeClient.connect(
        ConnectionSettings(
            mode="kubeconfig" if k.connection == "kubeconfig" else "in-cluster",
            kubeconfig=k.kubeconfig,
            context=k.context,
            request_timeout_seconds=k.request_timeout_seconds,
        )
    )


def kubernetes_target_settings(settings: Settings) -> TargetSettings:
    """The target's run-time settings from the ``kubernetes:`` and ``scale:`` config."""
    from exporter.targets.kubernetes.objects import ObjectSettings
    from exporter.targets.kubernetes.placement import PlacementSettings
    from exporter.targets.kubernetes.target import TargetSettings

    k = settings.kubernetes
    return TargetSettings(
        namespace_prefix=k.namespace,
        objects=ObjectSettings(instance=k.instance, image=k.image),
        placement=PlacementSettings(server_node=k.server_node, client_node=k.client_node),
        scale=settings.scale,
        endpoint_cidr=k.endpoint_cidr,
        journal_path=k.journal_path,
        pod_ready_timeout_seconds=k.pod_ready_timeout_seconds,
        namespace_delete_timeout_seconds=k.namespace_delete_timeout_seconds,
        allow_cluster_mutations=k.allow_cluster_mutations,
        policy_timeout_seconds=k.policy_timeout_seconds,
        observability_timeout_seconds=k.observability_timeout_seconds,
    )


def kubernetes_target_factory(
    client_factory: KubeClientFactory = real_kube_client,
) -> TargetFactory:
    def factory(settings: Settings, plan: SweepPlan) -> Target:
        from exporter.targets.kubernetes.target import KubernetesTarget

        client = client_factory(settings.kubernetes)
        # A client that keeps its own time (the fake API) brings its clock; the real one
        # runs on the system clock.
        clock = getattr(client, "clock", None)
        return KubernetesTarget(
            client, kubernetes_target_settings(settings), clock=clock, log=log.info
        )

    return factory


def target_factory_for(
    settings: Settings, *, kube_client_factory: KubeClientFactory | None = None
) -> TargetFactory:
    if settings.target == "lab":
        return lab_target_factory
    if settings.target == "kubernetes":
        return kubernetes_target_factory(kube_client_factory or real_kube_client)
    raise ConfigError("target", f"unknown target {settings.target!r}")


def detect_cluster_datapath(client: KubeClient) -> str:
    """The cluster's datapath label from ``kube-system`` ConfigMaps alone (no pods: used when
    planning; the target's own detection, with the runtime ``/proxyMode``, must agree or the
    sweep fails naming both)."""
    from exporter.targets.kubernetes.detect import detect
    from exporter.targets.kubernetes.placement import NodeInfo

    unknown = NodeInfo("", "", "unknown", "unknown", "unknown", "unknown", "unknown")
    return detect(client, unknown).datapath


def plan_resolver_for(
    settings: Settings, *, kube_client_factory: KubeClientFactory | None = None
) -> PlanResolver:
    from exporter.config import effective_plan

    if settings.target != "kubernetes" or settings.kubernetes.datapath is not None:
        return effective_plan
    make_client = kube_client_factory or real_kube_client

    def resolve(s: Settings, request: SweepRequest) -> SweepPlan:
        if request.datapaths is None:
            datapath = detect_cluster_datapath(make_client(s.kubernetes))
            request = dataclasses.replace(request, datapaths=(datapath,))
        return effective_plan(s, request)

    return resolve
