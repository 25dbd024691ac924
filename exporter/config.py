"""Load :class:`~exporter.settings.Settings` from a YAML file and the environment, validated.

Precedence, lowest first: the dataclass defaults, the YAML file, the environment. The seed
script's variable names (``IPERF_DURATION``, ``ROUNDS``, ``SVC_SCALE_STEPS``, ...) are honoured;
everything else is ``NETBENCH_*`` (see :func:`env_vars`). Every problem raises
:class:`~exporter.errors.ConfigError` naming the dotted YAML key (``scale.steps``) or, when the
value came from the environment, the variable (``SVC_SCALE_STEPS``).

Profiles inherit: a profile's ``rounds`` and each of its ``durations`` fields come from the top
level (and so from ``ROUNDS``, ``IPERF_DURATION``, ...) unless the profile pins them. The built-in
``quick`` profile pins short runs and one round; the built-in ``full`` profile pins nothing, so
it measures what the top level (the seed's defaults) says.

:func:`effective_plan` resolves a :class:`~exporter.sweep.SweepRequest` against the settings and
its profile into a :class:`Plan`, the :class:`~exporter.sweep.SweepPlan` the runner executes.

The full file format is documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from exporter.errors import ConfigError
from exporter.exporter_settings import ExporterSettings, ScheduleSpec, SweepBounds
from exporter.settings import (
    LAB_DATAPATHS,
    ROUTING_MODES,
    SCENARIOS,
    Durations,
    KubernetesSettings,
    LabSettings,
    Profile,
    ScaleSettings,
    Settings,
    default_profiles,
)

if TYPE_CHECKING:  # the runner imports every scenario and tool; loading config needs none of it
    from exporter.sweep import SweepRequest

TARGETS: tuple[str, ...] = ("lab", "kubernetes")
KUBERNETES_DATAPATHS: tuple[str, ...] = ("iptables", "ipvs", "nftables", "ebpf")
IPTABLES_COMMANDS: tuple[str, ...] = ("iptables", "iptables-legacy", "iptables-nft")
CONFIG_ENV = "NETBENCH_CONFIG"
"""Environment variable naming the YAML file when no path is given."""

_LABEL_MAX = 128
_LAB_PREFIX = re.compile(r"[a-z][a-z0-9]{1,5}")
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")

Raw = dict[str, Any]
"""A YAML mapping as loaded (values not yet validated)."""


# --------------------------------------------------------------------------------------------
# Environment variables


@dataclass(frozen=True)
class EnvVar:
    """One environment variable: where it lands in the YAML tree and how its text is read."""

    name: str
    path: str
    """Dotted YAML path it overrides, e.g. ``durations.iperf_seconds``."""
    parse: Callable[[str, str], object]
    """``(variable name, text) -> value``; raises ConfigError naming the variable."""
    help: str


def _env_str(name: str, text: str) -> object:
    return text


def _env_int(name: str, text: str) -> object:
    # Every integer variable counts something that needs at least one (rounds, endpoints,
    # workers); the range itself is checked with the YAML value, naming the variable too.
    try:
        return int(text.strip())
    except ValueError:
        raise ConfigError(name, f"must be an integer >= 1, got {text!r}") from None


def _env_float(name: str, text: str) -> object:
    try:
        return float(text.strip())
    except ValueError:
        raise ConfigError(name, f"must be a number, got {text!r}") from None


def _env_bool(name: str, text: str) -> object:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(name, f"must be true or false, got {text!r}")


def _env_csv(name: str, text: str) -> object:
    return [part.strip() for part in text.split(",") if part.strip()]


def _env_int_csv(name: str, text: str) -> object:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        return [int(part) for part in parts]
    except ValueError:
        raise ConfigError(
            name, f"must be comma-separated integers like '5000,10000', got {text!r}"
        ) from None


def env_vars() -> tuple[EnvVar, ...]:
    """Every environment variable :func:`load_settings` reads, seed names first."""
    return (
        EnvVar("IPERF_DURATION", "durations.iperf_seconds", _env_float, "seconds per iperf3 run"),
        EnvVar(
            "FORTIO_DURATION",
            "durations.http_seconds",
            _env_float,
            "seconds per HTTP / request-response run",
        ),
        EnvVar("ROUNDS", "rounds", _env_int, "rounds per scenario"),
        EnvVar("ROUND_SLEEP", "durations.round_sleep_seconds", _env_float, "pause between rounds"),
        EnvVar("SVC_SCALE_STEPS", "scale.steps", _env_int_csv, "Service counts, e.g. 5000,10000"),
        EnvVar("SVC_ENDPOINTS", "scale.endpoints_per_service", _env_int, "endpoints per Service"),
        EnvVar("SVC_CREATE_PARALLEL", "scale.create_parallel", _env_int, "API workers"),
        EnvVar("AUTO_FIX_LB_MAP", "scale.auto_fix_lb_map", _env_bool, "may raise bpf-lb-map-max"),
        EnvVar("NETBENCH_CLUSTER", "cluster", _env_str, "value of the cluster label"),
        EnvVar("NETBENCH_TARGET", "target", _env_str, "lab or kubernetes"),
        EnvVar("NETBENCH_NOISY_THRESHOLD", "noisy_threshold", _env_float, "relative stddev"),
        EnvVar("NETBENCH_WARMUP_SECONDS", "durations.warmup_seconds", _env_float, "iperf3 omit"),
        EnvVar(
            "NETBENCH_PROGRAMMING_TIMEOUT",
            "scale.programming_timeout_seconds",
            _env_float,
            "seconds a datapath may take to hold a step",
        ),
        EnvVar("NETBENCH_DATAPATHS", "lab.datapaths", _env_csv, "e.g. iptables,nftables"),
        EnvVar("NETBENCH_ROUTING", "lab.routing", _env_str, "native or vxlan"),
        EnvVar("NETBENCH_STATE_DIR", "lab.state_dir", _env_str, "lab state directory"),
        EnvVar("NETBENCH_LAB_PREFIX", "lab.prefix", _env_str, "lab name prefix"),
        EnvVar("NETBENCH_IPTABLES_COMMAND", "lab.iptables_command", _env_str, "iptables binary"),
        EnvVar("NETBENCH_API_TOKEN", "exporter.api_token", _env_str, "trigger API bearer token"),
        EnvVar(
            "NETBENCH_API_TOKEN_FILE",
            "exporter.api_token_file",
            _env_str,
            "file holding the trigger API token (a mounted Secret)",
        ),
        EnvVar("NETBENCH_DB", "exporter.db_path", _env_str, "SQLite history file"),
        EnvVar(
            "NETBENCH_KUBECONFIG",
            "kubernetes.kubeconfig",
            _env_str,
            "kubeconfig file (selects kubernetes.connection: kubeconfig)",
        ),
        EnvVar("NETBENCH_NAMESPACE", "kubernetes.namespace", _env_str, "namespace prefix"),
        EnvVar("NETBENCH_IMAGE", "kubernetes.image", _env_str, "benchmark pod image"),
        EnvVar(
            "NETBENCH_ALLOW_CLUSTER_MUTATIONS",
            "kubernetes.allow_cluster_mutations",
            _env_bool,
            "may toggle Hubble (restarts cilium-agents; reverted)",
        ),
    )


# --------------------------------------------------------------------------------------------
# Loading


def load_settings(path: Path | None, env: Mapping[str, str]) -> Settings:
    """Settings from defaults, then the YAML file at ``path``, then ``env``.

    With ``path`` None, ``env["NETBENCH_CONFIG"]`` names the file if set; without either, only
    defaults and the environment apply. Raises :class:`ConfigError` for any invalid value.
    """
    source = str(path)
    if path is None and env.get(CONFIG_ENV):
        path, source = Path(env[CONFIG_ENV]), CONFIG_ENV
    raw = _read_yaml(path, source) if path is not None else {}
    origins: dict[str, str] = {}
    for var in env_vars():
        text = env.get(var.name)
        if text is not None:
            _set_path(raw, var.path, var.parse(var.name, text))
            origins[var.path] = var.name
    return _Builder(origins).settings(raw)


def _read_yaml(path: Path, source: str) -> Raw:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(source, f"cannot read config file {str(path)!r}: {err.strerror}") from err
    return _parse_yaml(text, str(path))


def _parse_yaml(text: str, where: str) -> Raw:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(where, f"invalid YAML{at}: {problem}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(where, f"the top level must be a mapping, got {_kind(data)}")
    return data


def _set_path(raw: Raw, dotted: str, value: object) -> None:
    node = raw
    parts = dotted.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(".".join(parts[: i + 1]), f"must be a mapping, got {_kind(child)}")
        node = child
    node[parts[-1]] = value


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list {value!r}"
    return repr(value)


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _closest(word: str, valid: Sequence[str]) -> str | None:
    """The valid word ``word`` most likely misspells or abbreviates (``http``: ``http_seconds``)."""
    close = difflib.get_close_matches(word, valid, n=1, cutoff=0.6)
    if close:
        return close[0]
    prefixed = [v for v in valid if v.startswith(word) or word.startswith(v)]
    return prefixed[0] if len(prefixed) == 1 else None


def _suggest(key: str, valid: Sequence[str]) -> str:
    close = _closest(key, valid)
    hint = f"did you mean {close!r}? " if close else ""
    return f"unknown key; {hint}(valid: {', '.join(sorted(valid))})"


class _Builder:
    """Turns a raw YAML tree (env values already merged in) into validated Settings.

    ``origins`` maps a dotted path to the environment variable its value came from, so an error
    names what the user actually wrote.
    """

    def __init__(self, origins: Mapping[str, str]) -> None:
        self.origins = origins

    def key(self, path: str) -> str:
        return self.origins.get(path, path)

    # -- structure -------------------------------------------------------------------------

    def mapping(self, value: object, path: str) -> Raw:
        """A section; an empty one (``lab:`` with everything commented out) is ``{}``."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(self.key(path), f"must be a mapping, got {_kind(value)}")
        for k in value:
            if not isinstance(k, str):
                raise ConfigError(self.key(path), f"keys must be strings, got {k!r}")
        return value

    def check_keys(self, raw: Raw, valid: Sequence[str], prefix: str) -> None:
        for k in raw:
            if k not in valid:
                raise ConfigError(f"{prefix}{k}", _suggest(k, valid))

    # -- values ----------------------------------------------------------------------------

    def integer(self, value: object, path: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(self.key(path), f"must be an integer >= {minimum}, got {value!r}")
        return value

    def number(self, value: object, path: str, what: str, *, allow_zero: bool) -> float:
        number = math.nan
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            raise ConfigError(self.key(path), f"must be {what} {bound}, got {value!r}")
        return number

    def seconds(self, value: object, path: str, *, allow_zero: bool) -> float:
        return self.number(value, path, "a number of seconds", allow_zero=allow_zero)

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            raise ConfigError(self.key(path), f"must be true or false, got {value!r}")
        return value

    def string(self, value: object, path: str) -> str:
        if not isinstance(value, str):
            raise ConfigError(self.key(path), f"must be a string, got {_kind(value)}")
        return value

    def label(self, value: object, path: str) -> str:
        text = self.string(value, path)
        if not text.strip():
            raise ConfigError(self.key(path), "must not be empty")
        if text != text.strip():
            raise ConfigError(self.key(path), f"must not start or end with spaces, got {text!r}")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise ConfigError(self.key(path), f"must not contain control characters, got {text!r}")
        if len(text) > _LABEL_MAX:
            raise ConfigError(self.key(path), f"must be at most {_LABEL_MAX} characters")
        return text

    def choice(self, value: object, path: str, choices: Sequence[str]) -> str:
        text = self.string(value, path)
        if text not in choices:
            close = _closest(text, choices)
            hint = f"; did you mean {close!r}?" if close else ""
            raise ConfigError(
                self.key(path), f"must be one of {', '.join(choices)}, got {text!r}{hint}"
            )
        return text

    def names(self, value: object, path: str, choices: Sequence[str] | None) -> tuple[str, ...]:
        """A non-empty list of distinct names (from ``choices`` when given, else label-sane)."""
        if not isinstance(value, list | tuple):
            raise ConfigError(self.key(path), f"must be a list, got {_kind(value)}")
        if not value:
            raise ConfigError(self.key(path), "must name at least one")
        out: list[str] = []
        for item in value:
            name = self.choice(item, path, choices) if choices else self.label(item, path)
            if name in out:
                raise ConfigError(self.key(path), f"lists {name!r} twice")
            out.append(name)
        return tuple(out)

    def steps(self, value: object, path: str) -> tuple[int, ...]:
        reason = f"must be ascending positive integers, got {value!r}"
        if not isinstance(value, list | tuple) or not value:
            raise ConfigError(self.key(path), reason)
        if any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in value):
            raise ConfigError(self.key(path), reason)
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ConfigError(self.key(path), reason)
        return tuple(value)

    # -- sections --------------------------------------------------------------------------

    def settings(self, raw: Raw) -> Settings:
        base = Settings()
        self.check_keys(raw, _field_names(Settings), "")
        target = self.choice(raw.get("target", base.target), "target", TARGETS)
        rounds = self.integer(raw.get("rounds", base.rounds), "rounds", 1)
        threshold = self.number(
            raw.get("noisy_threshold", base.noisy_threshold),
            "noisy_threshold",
            "a ratio (0.10 = 10%)",
            allow_zero=False,
        )
        durations = self.durations(raw.get("durations"), "durations", base.durations)
        profiles = self.profiles(raw.get("profiles"), rounds, durations)
        return Settings(
            cluster=self.label(raw.get("cluster", base.cluster), "cluster"),
            target=target,
            rounds=rounds,
            noisy_threshold=threshold,
            durations=durations,
            scale=self.scale(raw.get("scale"), base.scale),
            lab=self.lab(raw.get("lab"), base.lab, target),
            kubernetes=self.kubernetes(raw.get("kubernetes"), base.kubernetes),
            profiles=profiles,
            exporter=self.exporter(raw.get("exporter"), base.exporter, profiles),
        )

    def durations(self, value: object, path: str, base: Durations) -> Durations:
        raw = self.mapping(value, path)
        self.check_keys(raw, _field_names(Durations), f"{path}.")
        out = {}
        for name in _field_names(Durations):
            zero_ok = name in ("warmup_seconds", "round_sleep_seconds")
            out[name] = self.seconds(
                raw.get(name, getattr(base, name)), f"{path}.{name}", allow_zero=zero_ok
            )
        return Durations(**out)

    def scale(self, value: object, base: ScaleSettings) -> ScaleSettings:
        raw = self.mapping(value, "scale")
        self.check_keys(raw, _field_names(ScaleSettings), "scale.")
        return ScaleSettings(
            steps=self.steps(raw.get("steps", base.steps), "scale.steps"),
            endpoints_per_service=self.integer(
                raw.get("endpoints_per_service", base.endpoints_per_service),
                "scale.endpoints_per_service",
                1,
            ),
            create_parallel=self.integer(
                raw.get("create_parallel", base.create_parallel), "scale.create_parallel", 1
            ),
            auto_fix_lb_map=self.boolean(
                raw.get("auto_fix_lb_map", base.auto_fix_lb_map), "scale.auto_fix_lb_map"
            ),
            programming_timeout_seconds=self.seconds(
                raw.get("programming_timeout_seconds", base.programming_timeout_seconds),
                "scale.programming_timeout_seconds",
                allow_zero=False,
            ),
        )

    def lab(self, value: object, base: LabSettings, target: str) -> LabSettings:
        raw = self.mapping(value, "lab")
        self.check_keys(raw, _field_names(LabSettings), "lab.")
        choices = LAB_DATAPATHS if target == "lab" else None
        state_dir = self.string(raw.get("state_dir", str(base.state_dir)), "lab.state_dir")
        if not state_dir.strip():
            raise ConfigError(self.key("lab.state_dir"), "must not be empty")
        prefix = raw.get("prefix", base.prefix)
        if prefix is not None and not _LAB_PREFIX.fullmatch(self.string(prefix, "lab.prefix")):
            raise ConfigError(
                self.key("lab.prefix"),
                "must be 2-6 lowercase letters or digits starting with a letter "
                f"(it goes into 15-character interface names), got {prefix!r}",
            )
        return LabSettings(
            datapaths=self.names(raw.get("datapaths", base.datapaths), "lab.datapaths", choices),
            routing=self.choice(raw.get("routing", base.routing), "lab.routing", ROUTING_MODES),
            state_dir=Path(state_dir),
            prefix=prefix,
            iptables_command=self.choice(
                raw.get("iptables_command", base.iptables_command),
                "lab.iptables_command",
                IPTABLES_COMMANDS,
            ),
        )

    def kubernetes(self, value: object, base: KubernetesSettings) -> KubernetesSettings:
        raw = self.mapping(value, "kubernetes")
        self.check_keys(raw, _field_names(KubernetesSettings), "kubernetes.")
        p = "kubernetes."

        def optional(key: str, default: str | None) -> str | None:
            v = raw.get(key, default)
            return None if v is None else self.label(v, p + key)

        def seconds(key: str) -> float:
            return self.seconds(raw.get(key, getattr(base, key)), p + key, allow_zero=False)

        kubeconfig = optional(
            "kubeconfig", None if base.kubeconfig is None else str(base.kubeconfig)
        )
        connection_default = "kubeconfig" if "kubeconfig" in raw else base.connection
        connection = self.choice(
            raw.get("connection", connection_default),
            p + "connection",
            ("in-cluster", "kubeconfig"),
        )
        if connection == "in-cluster" and kubeconfig is not None:
            raise ConfigError(
                self.key(p + "kubeconfig"), "is only used with connection: kubeconfig"
            )
        namespace = self.label(raw.get("namespace", base.namespace), p + "namespace")
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?", namespace):
            raise ConfigError(
                self.key(p + "namespace"),
                "must be a DNS label of at most 40 characters (sweep suffixes are appended), "
                f"got {namespace!r}",
            )
        instance = self.label(raw.get("instance", base.instance), p + "instance")
        if not re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", instance):
            raise ConfigError(self.key(p + "instance"), f"must be a label value, got {instance!r}")
        datapath = optional("datapath", base.datapath)
        if datapath is not None:
            datapath = self.choice(datapath, p + "datapath", KUBERNETES_DATAPATHS)
        server = optional("server_node", base.server_node)
        client = optional("client_node", base.client_node)
        if (server is None) != (client is None):
            raise ConfigError(
                self.key(p + ("client_node" if server else "server_node")),
                "name both server_node and client_node, or neither",
            )
        if server is not None and server == client:
            raise ConfigError(self.key(p + "client_node"), "must differ from server_node")
        cidr = self.label(raw.get("endpoint_cidr", base.endpoint_cidr), p + "endpoint_cidr")
        try:
            from exporter.targets.kubernetes.objects import EndpointPool

            EndpointPool(cidr)
        except ConfigError as err:
            raise ConfigError(self.key(p + "endpoint_cidr"), err.reason) from None
        journal = self.label(str(raw.get("journal_path", base.journal_path)), p + "journal_path")
        return KubernetesSettings(
            connection=connection,
            kubeconfig=Path(kubeconfig) if kubeconfig is not None else None,
            context=optional("context", base.context),
            namespace=namespace,
            instance=instance,
            image=self.label(raw.get("image", base.image), p + "image"),
            datapath=datapath,
            server_node=server,
            client_node=client,
            endpoint_cidr=cidr,
            journal_path=Path(journal),
            allow_cluster_mutations=self.boolean(
                raw.get("allow_cluster_mutations", base.allow_cluster_mutations),
                p + "allow_cluster_mutations",
            ),
            pod_ready_timeout_seconds=seconds("pod_ready_timeout_seconds"),
            namespace_delete_timeout_seconds=seconds("namespace_delete_timeout_seconds"),
            policy_timeout_seconds=seconds("policy_timeout_seconds"),
            observability_timeout_seconds=seconds("observability_timeout_seconds"),
            request_timeout_seconds=seconds("request_timeout_seconds"),
        )

    def profiles(self, value: object, rounds: int, durations: Durations) -> dict[str, Profile]:
        """Built-in profiles (inheriting the top level), then the file's merged over them."""
        raw = self.mapping(value, "profiles")
        builtins = default_profiles()
        out = {name: _inherit(p, rounds, durations) for name, p in builtins.items()}
        for name, spec in raw.items():
            path = f"profiles.{name}"
            if not _PROFILE_NAME.fullmatch(name):
                raise ConfigError(
                    path, "a profile name is letters, digits, '_', '.', '-' (max 63 characters)"
                )
            body = self.mapping(spec, path)
            self.check_keys(body, ("scenarios", "rounds", "durations"), f"{path}.")
            builtin = builtins.get(name)
            if builtin is not None:
                base = _inherit(builtin, rounds, durations)
            elif "scenarios" in body:
                base = Profile(name=name, scenarios=(), durations=durations, rounds=rounds)
            else:
                raise ConfigError(f"{path}.scenarios", "a new profile must list its scenarios")
            out[name] = Profile(
                name=name,
                scenarios=self.names(
                    body.get("scenarios", base.scenarios), f"{path}.scenarios", SCENARIOS
                ),
                durations=self.durations(
                    body.get("durations"), f"{path}.durations", base.durations
                ),
                rounds=self.integer(body.get("rounds", base.rounds), f"{path}.rounds", 1),
            )
        return out

    # -- the exporter (netbench serve) -----------------------------------------------------

    def exporter(
        self, value: object, base: ExporterSettings, profiles: Mapping[str, Profile]
    ) -> ExporterSettings:
        raw = self.mapping(value, "exporter")
        self.check_keys(raw, _field_names(ExporterSettings), "exporter.")
        p = "exporter."
        port = self.integer(raw.get("port", base.port), p + "port", 1)
        if port > 65535:
            raise ConfigError(self.key(p + "port"), f"must be at most 65535, got {port}")
        timezone = self.string(raw.get("timezone", base.timezone), p + "timezone")
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(self.key(p + "timezone"), f"unknown time zone {timezone!r}") from None
        token = raw.get("api_token", base.api_token)
        # Never echo the token in an error: it is a secret.
        if token is not None and (
            not isinstance(token, str) or not token.strip() or token != token.strip()
        ):
            raise ConfigError(
                self.key(p + "api_token"), "must be a non-empty string without spaces"
            )
        token_file = raw.get("api_token_file", base.api_token_file)
        if token_file is not None:
            token_file = Path(self.string(str(token_file), p + "api_token_file"))
        db_path = self.string(str(raw.get("db_path", base.db_path)), p + "db_path")
        if not db_path.strip():
            raise ConfigError(self.key(p + "db_path"), "must not be empty")
        return ExporterSettings(
            host=self.label(raw.get("host", base.host), p + "host"),
            port=port,
            db_path=Path(db_path),
            api_token=token,
            api_token_env=self.label(
                raw.get("api_token_env", base.api_token_env), p + "api_token_env"
            ),
            api_token_file=token_file,
            allow_unauthenticated_trigger=self.boolean(
                raw.get("allow_unauthenticated_trigger", base.allow_unauthenticated_trigger),
                p + "allow_unauthenticated_trigger",
            ),
            on_demand_cooldown_seconds=self.seconds(
                raw.get("on_demand_cooldown_seconds", base.on_demand_cooldown_seconds),
                p + "on_demand_cooldown_seconds",
                allow_zero=True,
            ),
            bounds=self.bounds(raw.get("bounds"), base.bounds),
            schedules=self.schedules(
                raw.get("schedules", None), base.schedules, profiles, timezone
            ),
            timezone=timezone,
            retention_days=self.number(
                raw.get("retention_days", base.retention_days),
                p + "retention_days",
                "a number of days",
                allow_zero=False,
            ),
            retention_keep_last=self.integer(
                raw.get("retention_keep_last", base.retention_keep_last),
                p + "retention_keep_last",
                1,
            ),
            series_max_age_seconds=self.seconds(
                raw.get("series_max_age_seconds", base.series_max_age_seconds),
                p + "series_max_age_seconds",
                allow_zero=False,
            ),
            shutdown_timeout_seconds=self.seconds(
                raw.get("shutdown_timeout_seconds", base.shutdown_timeout_seconds),
                p + "shutdown_timeout_seconds",
                allow_zero=False,
            ),
            log_format=self.choice(
                raw.get("log_format", base.log_format), p + "log_format", ("text", "json")
            ),
            log_level=self.choice(
                raw.get("log_level", base.log_level),
                p + "log_level",
                ("DEBUG", "INFO", "WARNING", "ERROR"),
            ),
        )

    def bounds(self, value: object, base: SweepBounds) -> SweepBounds:
        path = "exporter.bounds"
        raw = self.mapping(value, path)
        self.check_keys(raw, _field_names(SweepBounds), f"{path}.")
        lo = self.seconds(
            raw.get("min_duration_seconds", base.min_duration_seconds),
            f"{path}.min_duration_seconds",
            allow_zero=False,
        )
        hi = self.seconds(
            raw.get("max_duration_seconds", base.max_duration_seconds),
            f"{path}.max_duration_seconds",
            allow_zero=False,
        )
        if hi < lo:
            raise ConfigError(
                self.key(f"{path}.max_duration_seconds"),
                f"must be >= min_duration_seconds ({lo}), got {hi}",
            )
        return SweepBounds(
            max_rounds=self.integer(
                raw.get("max_rounds", base.max_rounds), f"{path}.max_rounds", 1
            ),
            min_duration_seconds=lo,
            max_duration_seconds=hi,
            max_scale_steps=self.integer(
                raw.get("max_scale_steps", base.max_scale_steps), f"{path}.max_scale_steps", 1
            ),
            max_scale_services=self.integer(
                raw.get("max_scale_services", base.max_scale_services),
                f"{path}.max_scale_services",
                1,
            ),
        )

    def schedules(
        self,
        value: object,
        base: tuple[ScheduleSpec, ...],
        profiles: Mapping[str, Profile],
        timezone: str,
    ) -> tuple[ScheduleSpec, ...]:
        path = "exporter.schedules"
        if value is None:
            specs = [dataclasses.asdict(spec) for spec in base]
        elif isinstance(value, list):
            specs = value
        else:
            raise ConfigError(self.key(path), f"must be a list, got {_kind(value)}")
        out = []
        for i, item in enumerate(specs):
            at = f"{path}[{i}]"
            spec = self.mapping(item, at)
            self.check_keys(spec, _field_names(ScheduleSpec), f"{at}.")
            profile = self.choice(spec.get("profile"), f"{at}.profile", sorted(profiles))
            cron = spec.get("cron")
            interval = spec.get("interval_seconds")
            if (cron is None) == (interval is None):
                raise ConfigError(at, "set exactly one of cron and interval_seconds")
            if cron is not None:
                cron = self.string(cron, f"{at}.cron")
                _check_cron(cron, timezone, f"{at}.cron")
            if interval is not None:
                interval = self.seconds(interval, f"{at}.interval_seconds", allow_zero=False)
            out.append(
                ScheduleSpec(
                    profile=profile,
                    cron=cron,
                    interval_seconds=interval,
                    jitter_seconds=self.integer(
                        spec.get("jitter_seconds", 0), f"{at}.jitter_seconds", 0
                    ),
                    misfire_grace_seconds=self.integer(
                        spec.get("misfire_grace_seconds", 600), f"{at}.misfire_grace_seconds", 1
                    ),
                )
            )
        return tuple(out)


def _check_cron(cron: str, timezone: str, key: str) -> None:
    from exporter.scheduler import cron_trigger

    try:
        cron_trigger(cron, timezone)
    except ValueError as err:
        raise ConfigError(key, f"invalid crontab expression {cron!r}: {err}") from None


def _pinned(profile: Profile) -> tuple[int | None, dict[str, float]]:
    """What a built-in profile pins: the values that differ from the dataclass defaults.

    A built-in value equal to the default follows the top level (and its environment
    variables); ``full`` pins nothing, ``quick`` pins one round and short runs.
    """
    default_rounds = Settings().rounds
    default_durations = Durations()
    rounds = profile.rounds if profile.rounds != default_rounds else None
    durations = {
        name: getattr(profile.durations, name)
        for name in _field_names(Durations)
        if getattr(profile.durations, name) != getattr(default_durations, name)
    }
    return rounds, durations


def _inherit(profile: Profile, rounds: int, durations: Durations) -> Profile:
    pinned_rounds, pinned_durations = _pinned(profile)
    return dataclasses.replace(
        profile,
        rounds=pinned_rounds if pinned_rounds is not None else rounds,
        durations=dataclasses.replace(durations, **pinned_durations),
    )


# --------------------------------------------------------------------------------------------
# Resolving a request


@dataclass(frozen=True)
class Plan:
    """A :class:`SweepRequest` resolved against :class:`Settings` and its profile.

    Implements :class:`exporter.sweep.SweepPlan`: exactly what the runner will execute.
    """

    profile: str
    scenarios: tuple[str, ...]
    datapaths: tuple[str, ...]
    routing: str
    rounds: int
    durations: Durations
    scale_steps: tuple[int, ...]
    endpoints_per_service: int


def effective_plan(settings: Settings, request: SweepRequest) -> Plan:
    """Resolve ``request``: each field it sets wins over the profile, which wins over settings.

    - scenarios, rounds, durations: request, else the profile (which already inherited the
      top level, see the module docstring);
    - datapaths, routing: request, else ``settings.lab``;
    - scale steps: request, else ``settings.scale.steps``; endpoints from ``settings.scale``.

    Raises :class:`ConfigError` naming the request field (``rounds``, ``datapaths``, ...).
    """
    check = _Builder({})
    profile = settings.profiles.get(request.profile)
    if profile is None:
        known = sorted(settings.profiles)
        close = _closest(request.profile, known)
        hint = f"did you mean {close!r}? " if close else ""
        raise ConfigError(
            "profile", f"unknown profile {request.profile!r}; {hint}(known: {', '.join(known)})"
        )
    datapath_choices = LAB_DATAPATHS if settings.target == "lab" else None
    durations = profile.durations
    if request.iperf_seconds is not None:
        durations = dataclasses.replace(
            durations,
            iperf_seconds=check.seconds(request.iperf_seconds, "iperf_seconds", allow_zero=False),
        )
    if request.http_seconds is not None:
        durations = dataclasses.replace(
            durations,
            http_seconds=check.seconds(request.http_seconds, "http_seconds", allow_zero=False),
        )
    return Plan(
        profile=profile.name,
        scenarios=check.names(_pick(request.scenarios, profile.scenarios), "scenarios", SCENARIOS),
        datapaths=check.names(
            _pick(request.datapaths, _default_datapaths(settings)), "datapaths", datapath_choices
        ),
        routing=check.choice(
            _pick(request.routing, settings.lab.routing), "routing", ROUTING_MODES
        ),
        rounds=check.integer(_pick(request.rounds, profile.rounds), "rounds", 1),
        durations=durations,
        scale_steps=check.steps(_pick(request.scale_steps, settings.scale.steps), "scale_steps"),
        endpoints_per_service=settings.scale.endpoints_per_service,
    )


def _default_datapaths(settings: Settings) -> tuple[str, ...]:
    """The lab's configured datapaths; on Kubernetes the configured ``kubernetes.datapath``
    (the CLI and the factory detect it from the cluster when it is not configured)."""
    if settings.target == "kubernetes" and settings.kubernetes.datapath is not None:
        return (settings.kubernetes.datapath,)
    return settings.lab.datapaths


def _pick(override: Any, default: Any) -> Any:
    return default if override is None else override
