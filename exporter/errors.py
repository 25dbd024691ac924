"""The exception tree of netbench.

Every error we raise on purpose derives from :class:`NetbenchError`, so callers can tell our
failures (bad config, a tool that failed, a datapath that did not program) from bugs.
"""

from __future__ import annotations


class NetbenchError(Exception):
    """Base of every error netbench raises on purpose."""


class ConfigError(NetbenchError):
    """A configuration value is invalid. Names the key and the reason."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"config {key}: {reason}")
        self.key = key
        self.reason = reason


class ToolError(NetbenchError):
    """A benchmark tool did not produce a usable result."""

    def __init__(self, tool: str, reason: str) -> None:
        super().__init__(f"{tool}: {reason}")
        self.tool = tool
        self.reason = reason


class ToolOutputError(ToolError):
    """The tool's output is malformed, truncated or empty: nothing can be parsed from it."""


class ToolReportedError(ToolError):
    """The tool ran and reported a failure (iperf3 "error", non-2xx codes, socket errors)."""


class ToolExecutionError(ToolError):
    """The tool exited non-zero, could not be started, or outlived its timeout."""

    def __init__(
        self, tool: str, reason: str, *, returncode: int | None = None, stderr: str = ""
    ) -> None:
        super().__init__(tool, reason)
        self.returncode = returncode
        self.stderr = stderr


class MeasurementInvalid(NetbenchError):
    """A run parsed fine but fails validation (e.g. a keepalive run passed off as short)."""


class TargetError(NetbenchError):
    """A target could not place, run or clean up something."""


class LabError(TargetError):
    """The lab target failed to build, program or tear down its namespaces."""


class DatapathNotProgrammed(TargetError):
    """The datapath did not verifiably hold the requested Services within its timeout."""


class SweepCancelled(NetbenchError):
    """The sweep was cancelled (signal or API) before it finished."""


class PolicyNotRealized(TargetError):
    """A NetworkPolicy was applied but the datapath does not (yet) enforce it."""


class ObservabilityNotToggled(TargetError):
    """The flow observer did not verifiably switch on or off."""


class NotApplicable(NetbenchError):
    """A scenario does not apply to this target or datapath (e.g. BPF map memory on iptables):
    nothing is measured and nothing is published, which is not a failure."""
