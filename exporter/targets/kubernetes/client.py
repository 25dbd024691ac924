"""The client seam: the only module of netbench that imports ``kubernetes``.

Everything above this seam speaks plain JSON-shaped dicts (``JsonObject``, camelCase keys exactly
as the API serves them) and our own typed errors (:mod:`.errors`). :class:`KubeClient` is the
small set of calls the Kubernetes target needs; :class:`RealKubeClient` implements it with the
official client, :class:`exporter.targets.kubernetes.fake.FakeKubeClient` in memory with the
same API semantics.

Facts about the installed client (kubernetes 37.x, verified on 37.0.3) this module relies on:

- Models are pydantic (keyword-only). ``Model.from_dict`` silently DROPS unknown keys (a typo in a
  manifest would vanish), while ``Model.model_validate`` rejects them (``extra="forbid"``). We
  send with ``model_validate`` (:func:`to_model`) so a manifest field the client does not know
  fails loudly here instead of being silently lost.
- Responses are read with ``_preload_content=False`` and parsed as JSON ourselves: no model
  round trip, so fields a newer API server adds are kept, not dropped.
- A dict PATCH body defaults to ``application/json-patch+json`` (first json type listed); we
  always pass the content type explicitly (merge / strategic merge).
- ``kubernetes.stream.stream()`` swaps ``api_client.call_api`` for the duration of the call: it
  is not safe to share that ApiClient with concurrent calls, so every exec gets its own.
- ``load_kube_config``/``load_incluster_config`` write the process-wide default configuration
  unless given ``client_configuration``: we always give one, so two clients never interfere.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import kubernetes.client as k8s
import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException
from kubernetes.config import incluster_config as _incluster
from kubernetes.config import kube_config as _kube_config
from kubernetes.stream import stream as _stream

from exporter.targets.kubernetes.cnp import CNP_API_VERSION, CNP_KIND, validate_cnp
from exporter.targets.kubernetes.errors import (
    ExecTimeout,
    KubeApiError,
    KubeConfigError,
    KubeConflict,
    KubeForbidden,
    KubeNotFound,
    KubeTooManyRequests,
    ManifestRejected,
)

JsonObject = dict[str, Any]
"""A Kubernetes object or list item as JSON (camelCase keys)."""

METRICS_GROUP = "metrics.k8s.io"
METRICS_VERSION = "v1beta1"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
"""What ``kubectl rollout restart`` sets on the pod template; we do the same."""

LIST_PAGE_SIZE = 500


@dataclass(frozen=True)
class ExecResult:
    """A finished exec: the remote exit code and both streams."""

    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach the API server. Chosen explicitly: never a silent fallback from one to the
    other (an exporter that meant to run in-cluster must not pick up a stray kubeconfig)."""

    mode: Literal["in-cluster", "kubeconfig"] = "in-cluster"
    kubeconfig: Path | None = None
    """kubeconfig mode only; None = ``~/.kube/config``."""
    context: str | None = None
    """kubeconfig mode only; None = the file's current-context."""
    request_timeout_seconds: float = 30.0
    """Per REST call (connect + read)."""


class KubeClient(Protocol):
    """The calls the Kubernetes target makes. Errors: :class:`KubeApiError` subclasses
    (404 :class:`KubeNotFound`, 409 :class:`KubeConflict`, 429 :class:`KubeTooManyRequests`
    with ``retry_after``); exec adds :class:`ExecTimeout`."""

    # nodes
    def list_nodes(self) -> list[JsonObject]: ...

    # namespaces
    def create_namespace(self, body: JsonObject) -> JsonObject: ...
    def get_namespace(self, name: str) -> JsonObject: ...
    def list_namespaces(self, label_selector: str) -> list[JsonObject]: ...
    def delete_namespace(self, name: str) -> None: ...

    # config maps
    def get_config_map(self, namespace: str, name: str) -> JsonObject: ...
    def create_config_map(self, namespace: str, body: JsonObject) -> JsonObject: ...
    def patch_config_map_data(
        self, namespace: str, name: str, data: Mapping[str, str | None]
    ) -> JsonObject:
        """JSON merge patch of ``data``: a None value deletes the key."""
        ...

    # daemon sets
    def get_daemon_set(self, namespace: str, name: str) -> JsonObject: ...
    def rollout_restart_daemon_set(self, namespace: str, name: str, at: str) -> JsonObject:
        """What ``kubectl rollout restart`` does: stamp the pod template with ``at``."""
        ...

    # pods
    def create_pod(self, namespace: str, body: JsonObject) -> JsonObject: ...
    def get_pod(self, namespace: str, name: str) -> JsonObject: ...
    def list_pods(self, namespace: str | None, label_selector: str) -> list[JsonObject]:
        """namespace None = all namespaces."""
        ...

    def delete_pod(self, namespace: str, name: str) -> None: ...

    # services and endpoint slices
    def create_service(self, namespace: str, body: JsonObject) -> JsonObject: ...
    def get_service(self, namespace: str, name: str) -> JsonObject: ...
    def list_services(
        self, namespace: str | None, label_selector: str | None = None
    ) -> list[JsonObject]: ...
    def create_endpoint_slice(self, namespace: str, body: JsonObject) -> JsonObject: ...
    def list_endpoint_slices(
        self, namespace: str, label_selector: str | None = None
    ) -> list[JsonObject]: ...

    # custom resources (CiliumNetworkPolicy)
    def create_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: JsonObject
    ) -> JsonObject: ...
    def get_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> JsonObject: ...
    def delete_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> None: ...

    # exec
    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout: float
    ) -> ExecResult:
        """Run argv in the container; returns its exit code. Raises :class:`ExecTimeout` when
        it has not finished after ``timeout`` seconds (the stream is closed; killing the remote
        process is the caller's job, e.g. by wrapping argv in ``timeout``)."""
        ...

    # metrics.k8s.io
    def list_node_metrics(self) -> list[JsonObject]: ...
    def list_pod_metrics(
        self, namespace: str, label_selector: str | None = None
    ) -> list[JsonObject]: ...


def to_model(body: Mapping[str, Any]) -> Any:
    """The client model for a manifest, validated strictly (unknown fields rejected).

    Raises :class:`ManifestRejected` naming the kind and the offending fields.
    """
    kind = body.get("kind")
    api_version = body.get("apiVersion")
    if (api_version, kind) == (CNP_API_VERSION, CNP_KIND):
        validate_cnp(body)  # a CRD: no client model; checked against its schema's fields
        return dict(body)
    model = _MODELS.get((str(api_version), str(kind)))
    if model is None:
        raise ManifestRejected(f"no client model known for {api_version} {kind}")
    try:
        return model.model_validate(dict(body))
    except ValueError as err:  # pydantic.ValidationError is a ValueError
        raise ManifestRejected(f"{kind} does not fit the client model: {err}") from err


_MODELS: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.V1Namespace,
    ("v1", "Pod"): k8s.V1Pod,
    ("v1", "Service"): k8s.V1Service,
    ("v1", "ConfigMap"): k8s.V1ConfigMap,
    ("discovery.k8s.io/v1", "EndpointSlice"): k8s.V1EndpointSlice,
}

_RETRY_AFTER_DEFAULT = 1.0


def translate_api_exception(
    err: ApiException,
    *,
    verb: str,
    resource: str,
    namespace: str | None = None,
    name: str | None = None,
) -> KubeApiError:
    """Our typed error for an ApiException (status, reason, message, Retry-After)."""
    status = int(err.status or 0)
    reason = str(err.reason or "")
    message = ""
    retry_after: float | None = None
    body = err.body
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            message = body[:500]
        else:
            if isinstance(parsed, dict):
                message = str(parsed.get("message", ""))
                reason = str(parsed.get("reason") or reason)
                details = parsed.get("details")
                if isinstance(details, dict) and "retryAfterSeconds" in details:
                    retry_after = float(details["retryAfterSeconds"])
    headers = err.headers
    if headers is not None:
        header = headers.get("Retry-After")
        if header is not None:
            try:
                retry_after = float(header)
            except ValueError:
                retry_after = None  # an HTTP date: rare from kube-apiserver; use our default
    if status == 0:
        # Transport failures (and websocket handshakes) arrive as status 0 with the cause in
        # the reason, e.g. "Handshake status 404 Not Found".
        match = re.search(r"Handshake status (\d{3})", reason)
        if match:
            status = int(match.group(1))
    if status == 429 and retry_after is None:
        retry_after = _RETRY_AFTER_DEFAULT
    return api_error(
        status,
        reason,
        message,
        verb=verb,
        resource=resource,
        namespace=namespace,
        name=name,
        retry_after=retry_after,
    )


def api_error(
    status: int,
    reason: str,
    message: str = "",
    *,
    verb: str = "",
    resource: str = "",
    namespace: str | None = None,
    name: str | None = None,
    retry_after: float | None = None,
) -> KubeApiError:
    """The most specific :class:`KubeApiError` subclass for ``status``."""
    cls: type[KubeApiError] = {
        403: KubeForbidden,
        404: KubeNotFound,
        409: KubeConflict,
        429: KubeTooManyRequests,
    }.get(status, KubeApiError)
    return cls(
        status,
        reason,
        message,
        verb=verb,
        resource=resource,
        namespace=namespace,
        name=name,
        retry_after=retry_after,
    )


def load_configuration(settings: ConnectionSettings) -> Any:
    """A fresh ``kubernetes.client.Configuration`` for ``settings`` (never the global one)."""
    configuration = k8s.Configuration()
    try:
        if settings.mode == "in-cluster":
            _incluster.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        elif settings.mode == "kubeconfig":
            _kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(settings.kubeconfig) if settings.kubeconfig else None,
                context=settings.context,
                client_configuration=configuration,
                persist_config=False,
            )
        else:  # pragma: no cover - Literal guards this; config validation names the key
            raise KubeConfigError(f"unknown connection mode {settings.mode!r}")
    except (ConfigException, OSError) as err:
        raise KubeConfigError(f"{settings.mode} configuration unusable: {err}") from err
    return configuration


class RealKubeClient:
    """:class:`KubeClient` over the official client. Thread-safe for REST calls (one pooled
    ApiClient); exec builds a private ApiClient per call."""

    def __init__(self, configuration: Any, *, request_timeout: float = 30.0) -> None:
        self._configuration = configuration
        self._timeout = request_timeout
        self._api = k8s.ApiClient(configuration=configuration)
        self._core = k8s.CoreV1Api(self._api)
        self._apps = k8s.AppsV1Api(self._api)
        self._discovery = k8s.DiscoveryV1Api(self._api)
        self._custom = k8s.CustomObjectsApi(self._api)

    @classmethod
    def connect(cls, settings: ConnectionSettings) -> RealKubeClient:
        return cls(load_configuration(settings), request_timeout=settings.request_timeout_seconds)

    def close(self) -> None:
        self._api.close()  # type: ignore[no-untyped-call]

    # -- plumbing -------------------------------------------------------------------------

    def _call(
        self,
        method: Any,
        *args: Any,
        verb: str,
        resource: str,
        namespace: str | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> JsonObject:
        try:
            response = method(
                *args, _preload_content=False, _request_timeout=self._timeout, **kwargs
            )
        except ApiException as err:
            raise translate_api_exception(
                err, verb=verb, resource=resource, namespace=namespace, name=name
            ) from err
        except urllib3.exceptions.HTTPError as err:
            raise KubeApiError(
                0, "transport", str(err), verb=verb, resource=resource, namespace=namespace
            ) from err
        raw = response.data
        if not raw:
            return {}
        parsed = json.loads(raw)
        return parsed if isinstance(parsed, dict) else {"items": parsed}

    def _list(
        self, method: Any, *args: Any, resource: str, namespace: str | None = None, **kwargs: Any
    ) -> list[JsonObject]:
        """All pages of a list call (limit/continue), so 30k Services never come in one body."""
        items: list[JsonObject] = []
        token: str | None = None
        while True:
            extra = {"_continue": token} if token else {}
            page = self._call(
                method,
                *args,
                verb="list",
                resource=resource,
                namespace=namespace,
                limit=LIST_PAGE_SIZE,
                **extra,
                **kwargs,
            )
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or None
            if not token:
                return items

    def _body(self, body: Mapping[str, Any]) -> Any:
        return to_model(body)

    # -- nodes ----------------------------------------------------------------------------

    def list_nodes(self) -> list[JsonObject]:
        return self._list(self._core.list_node, resource="nodes")

    # -- namespaces -----------------------------------------------------------------------

    def create_namespace(self, body: JsonObject) -> JsonObject:
        name = body.get("metadata", {}).get("name")
        return self._call(
            self._core.create_namespace,
            self._body(body),
            verb="create",
            resource="namespaces",
            name=name,
        )

    def get_namespace(self, name: str) -> JsonObject:
        return self._call(
            self._core.read_namespace, name, verb="get", resource="namespaces", name=name
        )

    def list_namespaces(self, label_selector: str) -> list[JsonObject]:
        return self._list(
            self._core.list_namespace, resource="namespaces", label_selector=label_selector
        )

    def delete_namespace(self, name: str) -> None:
        self._call(
            self._core.delete_namespace,
            name,
            verb="delete",
            resource="namespaces",
            name=name,
            propagation_policy="Background",
        )

    # -- config maps ----------------------------------------------------------------------

    def get_config_map(self, namespace: str, name: str) -> JsonObject:
        return self._call(
            self._core.read_namespaced_config_map,
            name,
            namespace,
            verb="get",
            resource="configmaps",
            namespace=namespace,
            name=name,
        )

    def create_config_map(self, namespace: str, body: JsonObject) -> JsonObject:
        return self._call(
            self._core.create_namespaced_config_map,
            namespace,
            self._body(body),
            verb="create",
            resource="configmaps",
            namespace=namespace,
            name=body.get("metadata", {}).get("name"),
        )

    def patch_config_map_data(
        self, namespace: str, name: str, data: Mapping[str, str | None]
    ) -> JsonObject:
        return self._call(
            self._core.patch_namespaced_config_map,
            name,
            namespace,
            {"data": dict(data)},
            verb="patch",
            resource="configmaps",
            namespace=namespace,
            name=name,
            _content_type="application/merge-patch+json",
        )

    # -- daemon sets ----------------------------------------------------------------------

    def get_daemon_set(self, namespace: str, name: str) -> JsonObject:
        return self._call(
            self._apps.read_namespaced_daemon_set,
            name,
            namespace,
            verb="get",
            resource="daemonsets",
            namespace=namespace,
            name=name,
        )

    def rollout_restart_daemon_set(self, namespace: str, name: str, at: str) -> JsonObject:
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: at}}}}}
        return self._call(
            self._apps.patch_namespaced_daemon_set,
            name,
            namespace,
            patch,
            verb="patch",
            resource="daemonsets",
            namespace=namespace,
            name=name,
            _content_type="application/strategic-merge-patch+json",
        )

    # -- pods -----------------------------------------------------------------------------

    def create_pod(self, namespace: str, body: JsonObject) -> JsonObject:
        return self._call(
            self._core.create_namespaced_pod,
            namespace,
            self._body(body),
            verb="create",
            resource="pods",
            namespace=namespace,
            name=body.get("metadata", {}).get("name"),
        )

    def get_pod(self, namespace: str, name: str) -> JsonObject:
        return self._call(
            self._core.read_namespaced_pod,
            name,
            namespace,
            verb="get",
            resource="pods",
            namespace=namespace,
            name=name,
        )

    def list_pods(self, namespace: str | None, label_selector: str) -> list[JsonObject]:
        if namespace is None:
            return self._list(
                self._core.list_pod_for_all_namespaces,
                resource="pods",
                label_selector=label_selector,
            )
        return self._list(
            self._core.list_namespaced_pod,
            namespace,
            resource="pods",
            namespace=namespace,
            label_selector=label_selector,
        )

    def delete_pod(self, namespace: str, name: str) -> None:
        self._call(
            self._core.delete_namespaced_pod,
            name,
            namespace,
            verb="delete",
            resource="pods",
            namespace=namespace,
            name=name,
        )

    # -- services and endpoint slices -----------------------------------------------------

    def create_service(self, namespace: str, body: JsonObject) -> JsonObject:
        return self._call(
            self._core.create_namespaced_service,
            namespace,
            self._body(body),
            verb="create",
            resource="services",
            namespace=namespace,
            name=body.get("metadata", {}).get("name"),
        )

    def get_service(self, namespace: str, name: str) -> JsonObject:
        return self._call(
            self._core.read_namespaced_service,
            name,
            namespace,
            verb="get",
            resource="services",
            namespace=namespace,
            name=name,
        )

    def list_services(
        self, namespace: str | None, label_selector: str | None = None
    ) -> list[JsonObject]:
        selector = {"label_selector": label_selector} if label_selector else {}
        if namespace is None:
            return self._list(
                self._core.list_service_for_all_namespaces, resource="services", **selector
            )
        return self._list(
            self._core.list_namespaced_service,
            namespace,
            resource="services",
            namespace=namespace,
            **selector,
        )

    def create_endpoint_slice(self, namespace: str, body: JsonObject) -> JsonObject:
        return self._call(
            self._discovery.create_namespaced_endpoint_slice,
            namespace,
            self._body(body),
            verb="create",
            resource="endpointslices",
            namespace=namespace,
            name=body.get("metadata", {}).get("name"),
        )

    def list_endpoint_slices(
        self, namespace: str, label_selector: str | None = None
    ) -> list[JsonObject]:
        selector = {"label_selector": label_selector} if label_selector else {}
        return self._list(
            self._discovery.list_namespaced_endpoint_slice,
            namespace,
            resource="endpointslices",
            namespace=namespace,
            **selector,
        )

    # -- metrics.k8s.io -------------------------------------------------------------------

    def list_node_metrics(self) -> list[JsonObject]:
        page = self._call(
            self._custom.list_cluster_custom_object,
            METRICS_GROUP,
            METRICS_VERSION,
            "nodes",
            verb="list",
            resource="nodes.metrics.k8s.io",
        )
        return list(page.get("items") or [])

    def list_pod_metrics(
        self, namespace: str, label_selector: str | None = None
    ) -> list[JsonObject]:
        selector = {"label_selector": label_selector} if label_selector else {}
        page = self._call(
            self._custom.list_namespaced_custom_object,
            METRICS_GROUP,
            METRICS_VERSION,
            namespace,
            "pods",
            verb="list",
            resource="pods.metrics.k8s.io",
            namespace=namespace,
            **selector,
        )
        return list(page.get("items") or [])

    # -- custom resources -----------------------------------------------------------------

    def create_custom_object(
        self, group: str, version: str, namespace: str, plural: str, body: JsonObject
    ) -> JsonObject:
        return self._call(
            self._custom.create_namespaced_custom_object,
            group,
            version,
            namespace,
            plural,
            self._body(body),
            verb="create",
            resource=plural,
            namespace=namespace,
            name=body.get("metadata", {}).get("name"),
        )

    def get_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> JsonObject:
        return self._call(
            self._custom.get_namespaced_custom_object,
            group,
            version,
            namespace,
            plural,
            name,
            verb="get",
            resource=plural,
            namespace=namespace,
            name=name,
        )

    def delete_custom_object(
        self, group: str, version: str, namespace: str, plural: str, name: str
    ) -> None:
        self._call(
            self._custom.delete_namespaced_custom_object,
            group,
            version,
            namespace,
            plural,
            name,
            verb="delete",
            resource=plural,
            namespace=namespace,
            name=name,
        )

    # -- exec -----------------------------------------------------------------------------

    def exec(
        self, namespace: str, pod: str, container: str, argv: Sequence[str], timeout: float
    ) -> ExecResult:
        # A private ApiClient: stream() swaps its call_api while the websocket is set up.
        api = k8s.ApiClient(configuration=self._configuration)
        try:
            return _exec_on(api, namespace, pod, container, tuple(argv), timeout)
        finally:
            api.close()  # type: ignore[no-untyped-call]


_ERROR_CHANNEL = 3


def _exec_on(
    api: Any, namespace: str, pod: str, container: str, argv: tuple[str, ...], timeout: float
) -> ExecResult:
    core = k8s.CoreV1Api(api)
    try:
        ws = _stream(
            core.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            command=list(argv),
            container=container,
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
    except ApiException as err:
        raise translate_api_exception(
            err, verb="exec", resource="pods/exec", namespace=namespace, name=pod
        ) from err
    stdout: list[str] = []
    stderr: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while ws.is_open():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ExecTimeout(pod, argv, timeout)
            ws.update(timeout=min(remaining, 1.0))
            stdout.append(ws.read_stdout(timeout=0))
            stderr.append(ws.read_stderr(timeout=0))
        stdout.append(ws.read_stdout(timeout=0))
        stderr.append(ws.read_stderr(timeout=0))
        status_text = ws.read_channel(_ERROR_CHANNEL, timeout=0)
    except ExecTimeout:
        raise
    except Exception as err:  # websocket errors have no common base worth naming
        raise KubeApiError(
            0,
            "exec stream failed",
            str(err),
            verb="exec",
            resource="pods/exec",
            namespace=namespace,
            name=pod,
        ) from err
    finally:
        ws.close()
    return ExecResult(
        returncode=exec_returncode(status_text, pod), stdout="".join(stdout), stderr="".join(stderr)
    )


def exec_returncode(status_text: str, pod: str) -> int:
    """The exit code in the exec error channel's Status (empty = the stream ended cleanly)."""
    if not status_text:
        return 0
    try:
        status = json.loads(status_text)
    except ValueError as err:
        raise KubeApiError(0, "exec", f"unreadable exec status: {status_text!r}") from err
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    raise KubeApiError(
        int(status.get("code") or 0),
        str(status.get("reason") or "exec failed"),
        str(status.get("message") or status_text),
        verb="exec",
        resource="pods/exec",
        name=pod,
    )
