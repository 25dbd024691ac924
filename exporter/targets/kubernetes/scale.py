"""Service-scale installs: N selector-less Services + EndpointSlices in a dedicated namespace.

- a bounded thread pool (``settings.scale.create_parallel`` workers) creates Service ``i`` and
  then its EndpointSlice; steps ascend, so a step only creates the Services it adds;
- 429 is retried after the server's Retry-After (bounded per wait and in attempts), 409 means
  the object is already there (a retried create that had landed, or a previous partial step);
  anything else fails the step with the first error, remaining work cancelled;
- the created count is verified by listing, never assumed;
- teardown deletes the namespace and verifies it is gone.

:func:`lb_map_preflight` checks Cilium's LB map capacity before a step. The seed's formula
ignored the Services already in the cluster; ours counts them (each estimated with the step's
endpoint count, as their real backends are not listed), raises ``bpf-lb-map-max`` only when
``auto_fix`` is allowed (journalled, so it is reverted), and is always reported.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

from exporter.targets.kubernetes.client import JsonObject, KubeClient
from exporter.targets.kubernetes.clock import Clock
from exporter.targets.kubernetes.detect import (
    CILIUM_CONFIG_MAP,
    CILIUM_DAEMON_SET,
    KUBE_SYSTEM,
    CiliumConfig,
)
from exporter.targets.kubernetes.errors import (
    KubeConflict,
    KubeError,
    KubeNotFound,
    KubeTooManyRequests,
    LbMapCapacityError,
    ScaleError,
)
from exporter.targets.kubernetes.janitor import Janitor
from exporter.targets.kubernetes.objects import (
    PURPOSE_LABEL,
    EndpointPool,
    ObjectSettings,
    dummy_endpoint_slice,
    dummy_service,
    namespace,
    owned_selector,
)
from exporter.targets.kubernetes.rollout import wait_daemon_set

T = TypeVar("T")

LB_MAP_KEY = "bpf-lb-map-max"
LB_MAP_GRANULE = 65536


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10
    """Per object, including the first try."""
    max_wait_seconds: float = 30.0
    """Cap on a single Retry-After wait."""


@dataclass(frozen=True)
class InstallReport:
    services: int
    """Dummy Services present and verified after the step."""
    created: int
    """Objects (Services + slices) this step created."""
    already_there: int
    """Creates answered 409 (counted as present)."""
    throttled: int
    """429 answers retried."""
    waited_seconds: float
    """Total Retry-After waits."""
    seconds: float


class _Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.created = 0
        self.already = 0
        self.throttled = 0
        self.waited = 0.0


class ScaleInstaller:
    def __init__(
        self,
        client: KubeClient,
        settings: ObjectSettings,
        *,
        namespace_name: str,
        sweep: str,
        parallel: int,
        clock: Clock,
        pool: EndpointPool | None = None,
        retry: RetryPolicy | None = None,
        log: Callable[[str], None] = lambda _m: None,
    ) -> None:
        if parallel < 1:
            raise ScaleError("scale.create_parallel must be at least 1")
        self.client = client
        self.settings = settings
        self.namespace = namespace_name
        self.sweep = sweep
        self.parallel = parallel
        self.clock = clock
        self.pool = pool or EndpointPool()
        self.retry = retry or RetryPolicy()
        self.log = log
        self._installed = 0
        self._endpoints: int | None = None
        self._cancel = threading.Event()

    @property
    def installed(self) -> int:
        return self._installed

    def _selector(self) -> str:
        return f"{owned_selector(self.settings, self.sweep)},{PURPOSE_LABEL}=scale"

    def _with_retry(self, call: Callable[[], T], stats: _Stats, what: str) -> T | None:
        """The call's result; None when it answered 409 (already there)."""
        for attempt in range(1, self.retry.max_attempts + 1):
            if self._cancel.is_set():
                raise ScaleError(f"{what}: cancelled after an earlier failure")
            try:
                return call()
            except KubeConflict:
                with stats.lock:
                    stats.already += 1
                return None
            except KubeTooManyRequests as err:
                if attempt == self.retry.max_attempts:
                    raise ScaleError(
                        f"{what}: still throttled (429) after {attempt} attempts"
                    ) from err
                wait_s = min(err.retry_after or 1.0, self.retry.max_wait_seconds)
                with stats.lock:
                    stats.throttled += 1
                    stats.waited += wait_s
                self.clock.sleep(wait_s)
        raise AssertionError("unreachable")  # pragma: no cover

    def _create_one(self, index: int, endpoints: int, stats: _Stats) -> None:
        svc = dummy_service(self.settings, index=index, ns=self.namespace, sweep=self.sweep)
        eps = dummy_endpoint_slice(
            self.settings,
            index=index,
            ns=self.namespace,
            sweep=self.sweep,
            endpoints=endpoints,
            pool=self.pool,
        )
        name = svc["metadata"]["name"]
        ns = self.namespace
        made = self._with_retry(
            lambda: self.client.create_service(ns, svc), stats, f"create Service {ns}/{name}"
        )
        made_slice = self._with_retry(
            lambda: self.client.create_endpoint_slice(ns, eps),
            stats,
            f"create EndpointSlice {ns}/{name}",
        )
        with stats.lock:
            stats.created += (made is not None) + (made_slice is not None)

    def _ensure_namespace(self, stats: _Stats) -> None:
        body = namespace(self.settings, self.namespace, self.sweep, "scale")
        own = _Stats()  # a 409 here is the namespace of an earlier step, not a dummy object
        self._with_retry(lambda: self.client.create_namespace(body), own, "create namespace")
        stats.throttled += own.throttled
        stats.waited += own.waited
        ns = self.client.get_namespace(self.namespace)
        if (ns.get("status") or {}).get("phase") == "Terminating":
            raise ScaleError(f"namespace {self.namespace} is still terminating")

    def ensure(
        self, count: int, endpoints_per_service: int, teardown_timeout: float
    ) -> InstallReport:
        """Make exactly ``count`` dummy Services exist (each with ``endpoints_per_service``
        endpoints), verified. Shrinking or changing the endpoint count starts from scratch."""
        start = self.clock.monotonic()
        stats = _Stats()
        if count < 0:
            raise ScaleError(f"cannot install {count} Services")
        if count < self._installed or (
            self._endpoints is not None and endpoints_per_service != self._endpoints
        ):
            self.teardown(teardown_timeout)
        if count == 0:
            return InstallReport(0, 0, 0, 0, 0.0, self.clock.monotonic() - start)
        self._ensure_namespace(stats)
        self._endpoints = endpoints_per_service
        todo = range(self._installed, count)
        self._cancel.clear()
        with ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="nb-scale") as ex:
            futures: list[Future[None]] = [
                ex.submit(self._create_one, i, endpoints_per_service, stats) for i in todo
            ]
            done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                self._cancel.set()
                for f in futures:
                    f.cancel()
        if failed:
            first = failed[0].exception()
            assert first is not None
            self._installed = 0  # unknown: the next step re-verifies from the listing
            raise ScaleError(
                f"creating {count} Services failed after {stats.created} objects: {first}"
            ) from first
        services = self.client.list_services(self.namespace, self._selector())
        slices = self.client.list_endpoint_slices(self.namespace, self._selector())
        if len(services) != count or len(slices) != count:
            raise ScaleError(
                f"expected {count} Services and EndpointSlices in {self.namespace}, found "
                f"{len(services)} and {len(slices)}"
            )
        self._installed = count
        self.log(
            f"scale: {count} Services verified ({stats.created} objects created, "
            f"{stats.already} already there, {stats.throttled} throttled)"
        )
        return InstallReport(
            services=count,
            created=stats.created,
            already_there=stats.already,
            throttled=stats.throttled,
            waited_seconds=stats.waited,
            seconds=self.clock.monotonic() - start,
        )

    def teardown(self, timeout: float, poll: float = 1.0) -> None:
        """Delete the scale namespace and verify it is gone."""
        with contextlib.suppress(KubeNotFound):
            self.client.delete_namespace(self.namespace)
        deadline = self.clock.monotonic() + timeout
        while True:
            try:
                self.client.get_namespace(self.namespace)
            except KubeNotFound:
                break
            if self.clock.monotonic() >= deadline:
                raise ScaleError(
                    f"namespace {self.namespace} still present {timeout:.0f}s after deletion"
                )
            self.clock.sleep(poll)
        self._installed = 0
        self._endpoints = None


# -- Cilium LB map preflight --------------------------------------------------------------


@dataclass(frozen=True)
class LbMapPreflight:
    existing_services: int
    requested: int
    endpoints_per_service: int
    needed: int
    capacity: int
    raised_to: int | None = None

    @property
    def fits(self) -> bool:
        return self.needed <= (self.raised_to or self.capacity)

    def describe(self) -> str:
        text = (
            f"Cilium LB map: ({self.existing_services} existing + {self.requested}) Services x "
            f"(1 + {self.endpoints_per_service}) = {self.needed} entries, "
            f"{LB_MAP_KEY}={self.capacity}"
        )
        if self.raised_to is not None:
            text += f", raised to {self.raised_to} (reverted after the sweep)"
        return text


def lb_map_entries(services: int, endpoints_per_service: int) -> int:
    """One frontend entry per Service port plus one per backend (our dummies have one port)."""
    return services * (1 + endpoints_per_service)


def count_existing_services(client: KubeClient, exclude_namespace: str) -> int:
    items: list[JsonObject] = client.list_services(None)
    return sum(1 for s in items if (s.get("metadata") or {}).get("namespace") != exclude_namespace)


def lb_map_preflight(
    client: KubeClient,
    cilium: CiliumConfig,
    *,
    requested: int,
    endpoints_per_service: int,
    scale_namespace: str,
    auto_fix: bool,
    janitor: Janitor,
    clock: Clock,
    rollout_timeout: float = 600.0,
) -> LbMapPreflight:
    """Check (and when allowed, raise) Cilium's LB map capacity for ``requested`` dummies.

    Raises LbMapCapacityError when it does not fit and ``auto_fix`` is off.
    """
    existing = count_existing_services(client, scale_namespace)
    needed = lb_map_entries(existing + requested, endpoints_per_service)
    report = LbMapPreflight(existing, requested, endpoints_per_service, needed, cilium.lb_map_max)
    if report.fits:
        return report
    if not auto_fix:
        raise LbMapCapacityError(
            f"{report.describe()}: does not fit; allow scale.auto_fix_lb_map (AUTO_FIX_LB_MAP) "
            "to raise it, or lower the steps"
        )
    new_max = math.ceil(needed / LB_MAP_GRANULE) * LB_MAP_GRANULE
    janitor.patch_config_map(
        KUBE_SYSTEM,
        CILIUM_CONFIG_MAP,
        LB_MAP_KEY,
        str(new_max),
        restart=(KUBE_SYSTEM, CILIUM_DAEMON_SET),
        reason=f"service_scale needs {needed} LB entries",
    )
    try:
        wait_daemon_set(client, KUBE_SYSTEM, CILIUM_DAEMON_SET, rollout_timeout, clock)
    except KubeError as err:
        raise LbMapCapacityError(f"raised {LB_MAP_KEY} to {new_max} but: {err}") from err
    return LbMapPreflight(
        existing, requested, endpoints_per_service, needed, cilium.lb_map_max, raised_to=new_max
    )
