"""Typed errors of the Kubernetes target.

Every failure of the cluster API, of placement, of detection or of cleanup surfaces as one of
these (all :class:`exporter.errors.TargetError`), never as a raw ``kubernetes`` ApiException:
the client seam (:mod:`.client`) translates them, and the fake (:mod:`.fake`) raises the same
ones, so callers are tested against exactly what production raises.
"""

from __future__ import annotations

from exporter.errors import TargetError


class KubeError(TargetError):
    """Base of every Kubernetes target error."""


class KubeConfigError(KubeError):
    """No usable client configuration (in-cluster service account or kubeconfig)."""


class KubeApiError(KubeError):
    """The API server answered with an error status (or could not be reached: status 0)."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str = "",
        *,
        verb: str = "",
        resource: str = "",
        namespace: str | None = None,
        name: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        where = "/".join(p for p in (namespace, resource, name) if p)
        text = f"{verb} {where}: {status} {reason}".strip()
        if message:
            text += f": {message}"
        super().__init__(text)
        self.status = status
        self.reason = reason
        self.message = message
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.name = name
        self.retry_after = retry_after
        """Seconds the server asked us to wait (Retry-After header or Status details)."""


class KubeNotFound(KubeApiError):
    """404: the object (or its namespace) does not exist."""


class KubeConflict(KubeApiError):
    """409: AlreadyExists on create, or a resourceVersion conflict on update."""


class KubeForbidden(KubeApiError):
    """403: RBAC denied, or the namespace is terminating."""


class KubeTooManyRequests(KubeApiError):
    """429: API priority and fairness (or a webhook) throttled us; see ``retry_after``."""


class ManifestRejected(KubeError):
    """A manifest we built does not fit the client's model (a netbench bug, caught before
    anything is sent)."""


class ExecTimeout(KubeError):
    """An exec did not finish within its client-side deadline; the stream was closed."""

    def __init__(self, pod: str, argv: tuple[str, ...], seconds: float) -> None:
        super().__init__(f"exec in {pod} did not finish within {seconds:.1f}s: {' '.join(argv)}")
        self.pod = pod
        self.argv = argv
        self.seconds = seconds


class PodNotReady(KubeError):
    """A benchmark pod did not become Ready in time (or failed for good: image pull, crash)."""

    def __init__(self, pod: str, phase: str, reason: str) -> None:
        super().__init__(f"pod {pod} not Ready (phase {phase}): {reason}")
        self.pod = pod
        self.phase = phase
        self.reason = reason


class PlacementError(KubeError):
    """No two eligible nodes, or a configured node is missing or ineligible."""


class DetectionError(KubeError):
    """The datapath could not be determined (and no override was configured)."""


class ScaleError(KubeError):
    """Dummy Services could not be created, verified, or torn down."""


class LbMapCapacityError(ScaleError):
    """Cilium's LB map cannot hold the requested step and raising it is not allowed."""


class JournalError(KubeError):
    """The mutation journal cannot be written or read, or a revert conflicts."""


class NotSupported(KubeError):
    """This cluster, image or datapath does not offer what was asked (said why)."""
