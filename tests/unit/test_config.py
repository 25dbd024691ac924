"""Configuration loading: defaults < YAML file < environment, every error naming its key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from exporter.config import Plan, effective_plan, env_vars, load_settings
from exporter.errors import ConfigError
from exporter.settings import SCENARIOS, Durations, Settings

if TYPE_CHECKING:
    from exporter.sweep import SweepRequest

FULL_YAML = """
cluster: staging-eu
target: lab
rounds: 5
noisy_threshold: 0.2
durations: {iperf_seconds: 20, http_seconds: 40, warmup_seconds: 2, round_sleep_seconds: 0}
scale:
  steps: [1000, 2000]
  endpoints_per_service: 2
  create_parallel: 8
  auto_fix_lb_map: true
  programming_timeout_seconds: 60
lab:
  datapaths: [iptables, ebpf]
  routing: vxlan
  state_dir: /tmp/nb-state
  prefix: nbtest
  iptables_command: iptables-legacy
profiles:
  quick: {rounds: 2}
  nightly:
    scenarios: [throughput, service_scale]
    durations: {http_seconds: 10}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "netbench.yaml"
    path.write_text(text)
    return path


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    return load_settings(write(tmp_path, text), env or {})


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text, env)
    return info.value


# -- defaults, file, environment ------------------------------------------------------------


def test_no_file_no_env_gives_the_dataclass_defaults() -> None:
    assert load_settings(None, {}) == Settings()


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_text(tmp_path, "") == Settings()
    assert load_text(tmp_path, "# nothing\nlab:\n") == Settings()


def test_file_sets_every_section(tmp_path: Path) -> None:
    s = load_text(tmp_path, FULL_YAML)
    assert s.cluster == "staging-eu"
    assert s.rounds == 5
    assert s.noisy_threshold == 0.2
    assert s.durations == Durations(20.0, 40.0, 2.0, 0.0)
    assert s.scale.steps == (1000, 2000)
    assert s.scale.endpoints_per_service == 2
    assert s.scale.create_parallel == 8
    assert s.scale.auto_fix_lb_map is True
    assert s.scale.programming_timeout_seconds == 60.0
    assert s.lab.datapaths == ("iptables", "ebpf")
    assert s.lab.routing == "vxlan"
    assert s.lab.state_dir == Path("/tmp/nb-state")
    assert s.lab.prefix == "nbtest"
    assert s.lab.iptables_command == "iptables-legacy"


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    env = {"ROUNDS": "7", "NETBENCH_CLUSTER": "from-env", "IPERF_DURATION": "11"}
    s = load_text(tmp_path, FULL_YAML, env)
    assert s.rounds == 7
    assert s.cluster == "from-env"
    assert s.durations.iperf_seconds == 11.0
    assert s.durations.http_seconds == 40.0  # untouched by env: the file's value


@pytest.mark.parametrize(
    ("var", "text", "get", "expected"),
    [
        ("IPERF_DURATION", "12.5", lambda s: s.durations.iperf_seconds, 12.5),
        ("FORTIO_DURATION", "45", lambda s: s.durations.http_seconds, 45.0),
        ("ROUNDS", "4", lambda s: s.rounds, 4),
        ("ROUND_SLEEP", "0", lambda s: s.durations.round_sleep_seconds, 0.0),
        ("SVC_SCALE_STEPS", "5000, 10000", lambda s: s.scale.steps, (5000, 10000)),
        ("SVC_ENDPOINTS", "8", lambda s: s.scale.endpoints_per_service, 8),
        ("SVC_CREATE_PARALLEL", "16", lambda s: s.scale.create_parallel, 16),
        ("AUTO_FIX_LB_MAP", "true", lambda s: s.scale.auto_fix_lb_map, True),
        ("AUTO_FIX_LB_MAP", "FALSE", lambda s: s.scale.auto_fix_lb_map, False),
        ("NETBENCH_CLUSTER", "prod-1", lambda s: s.cluster, "prod-1"),
        ("NETBENCH_TARGET", "kubernetes", lambda s: s.target, "kubernetes"),
        ("NETBENCH_DATAPATHS", "ebpf,nftables", lambda s: s.lab.datapaths, ("ebpf", "nftables")),
        ("NETBENCH_ROUTING", "vxlan", lambda s: s.lab.routing, "vxlan"),
        ("NETBENCH_STATE_DIR", "/tmp/x", lambda s: s.lab.state_dir, Path("/tmp/x")),
        ("NETBENCH_NOISY_THRESHOLD", "0.05", lambda s: s.noisy_threshold, 0.05),
        ("NETBENCH_WARMUP_SECONDS", "0", lambda s: s.durations.warmup_seconds, 0.0),
        (
            "NETBENCH_PROGRAMMING_TIMEOUT",
            "30",
            lambda s: s.scale.programming_timeout_seconds,
            30.0,
        ),
        ("NETBENCH_LAB_PREFIX", "ab12", lambda s: s.lab.prefix, "ab12"),
        (
            "NETBENCH_IPTABLES_COMMAND",
            "iptables-nft",
            lambda s: s.lab.iptables_command,
            "iptables-nft",
        ),
    ],
)
def test_every_environment_variable(var: str, text: str, get: object, expected: object) -> None:
    s = load_settings(None, {var: text})
    assert callable(get)
    assert get(s) == expected


def test_every_environment_variable_is_documented() -> None:
    seed = {"IPERF_DURATION", "FORTIO_DURATION", "ROUNDS", "ROUND_SLEEP", "SVC_SCALE_STEPS"}
    seed |= {"SVC_ENDPOINTS", "SVC_CREATE_PARALLEL", "AUTO_FIX_LB_MAP"}
    assert seed <= {v.name for v in env_vars()}
    docs = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    for var in env_vars():
        assert f"`{var.name}`" in docs, var.name


def test_netbench_config_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "cluster: via-env-path\n")
    assert load_settings(None, {"NETBENCH_CONFIG": str(path)}).cluster == "via-env-path"
    # An explicit path wins over NETBENCH_CONFIG.
    other = tmp_path / "other.yaml"
    other.write_text("cluster: explicit\n")
    assert load_settings(other, {"NETBENCH_CONFIG": str(path)}).cluster == "explicit"


def test_missing_file_names_where_it_came_from(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"NETBENCH_CONFIG": str(missing)})
    assert info.value.key == "NETBENCH_CONFIG"
    with pytest.raises(ConfigError) as info:
        load_settings(missing, {})
    assert info.value.key == str(missing)
    assert "cannot read" in info.value.reason


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    err = error_of(tmp_path, "rounds: 3\nlab: [unclosed\n")
    assert err.key.endswith("netbench.yaml")
    assert "invalid YAML at line" in err.reason


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert "mapping" in error_of(tmp_path, "- a\n- b\n").reason


# -- unknown keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        ("round: 3\n", "round", "'rounds'"),
        ("lab: {datapath: [iptables]}\n", "lab.datapath", "'datapaths'"),
        ("durations: {iperf: 3}\n", "durations.iperf", "'iperf_seconds'"),
        ("scale: {step: [5]}\n", "scale.step", "'steps'"),
        ("profiles: {quick: {scenario: [latency]}}\n", "profiles.quick.scenario", "'scenarios'"),
        (
            "profiles: {quick: {durations: {http: 1}}}\n",
            "profiles.quick.durations.http",
            "'http_seconds'",
        ),
    ],
)
def test_unknown_key_names_it_and_suggests(
    tmp_path: Path, text: str, key: str, suggestion: str
) -> None:
    err = error_of(tmp_path, text)
    assert err.key == key
    assert f"did you mean {suggestion}?" in err.reason


def test_unknown_key_without_close_match_lists_valid_keys(tmp_path: Path) -> None:
    err = error_of(tmp_path, "zzzz: 1\n")
    assert err.key == "zzzz"
    assert "did you mean" not in err.reason
    assert "valid: " in err.reason and "rounds" in err.reason


# -- invalid values -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("cluster: ''\n", "cluster"),
        ("cluster: '   '\n", "cluster"),
        ("cluster: ' padded'\n", "cluster"),
        ('cluster: "a\\nb"\n', "cluster"),
        (f"cluster: {'x' * 129}\n", "cluster"),
        ("cluster: 5\n", "cluster"),
        ("target: cloud\n", "target"),
        ("rounds: 0\n", "rounds"),
        ("rounds: 2.5\n", "rounds"),
        ("rounds: true\n", "rounds"),
        ("rounds: '3'\n", "rounds"),
        ("noisy_threshold: 0\n", "noisy_threshold"),
        ("noisy_threshold: .nan\n", "noisy_threshold"),
        ("durations: {iperf_seconds: 0}\n", "durations.iperf_seconds"),
        ("durations: {http_seconds: -1}\n", "durations.http_seconds"),
        ("durations: {http_seconds: .inf}\n", "durations.http_seconds"),
        ("durations: {warmup_seconds: -1}\n", "durations.warmup_seconds"),
        ("durations: {round_sleep_seconds: x}\n", "durations.round_sleep_seconds"),
        ("durations: 5\n", "durations"),
        ("scale: {steps: []}\n", "scale.steps"),
        ("scale: {steps: [10000, 5000]}\n", "scale.steps"),
        ("scale: {steps: [5000, 5000]}\n", "scale.steps"),
        ("scale: {steps: [0, 5]}\n", "scale.steps"),
        ("scale: {steps: [1.5]}\n", "scale.steps"),
        ("scale: {steps: 5000}\n", "scale.steps"),
        ("scale: {endpoints_per_service: 0}\n", "scale.endpoints_per_service"),
        ("scale: {create_parallel: 0}\n", "scale.create_parallel"),
        ("scale: {auto_fix_lb_map: 'yes'}\n", "scale.auto_fix_lb_map"),
        ("scale: {programming_timeout_seconds: 0}\n", "scale.programming_timeout_seconds"),
        ("lab: {datapaths: []}\n", "lab.datapaths"),
        ("lab: {datapaths: [ipvs]}\n", "lab.datapaths"),
        ("lab: {datapaths: [iptables, iptables]}\n", "lab.datapaths"),
        ("lab: {datapaths: iptables}\n", "lab.datapaths"),
        ("lab: {routing: geneve}\n", "lab.routing"),
        ("lab: {state_dir: ''}\n", "lab.state_dir"),
        ("lab: {prefix: NB-1}\n", "lab.prefix"),
        ("lab: {prefix: toolongprefix}\n", "lab.prefix"),
        ("lab: {iptables_command: /bin/sh}\n", "lab.iptables_command"),
        ("profiles: {quick: {rounds: 0}}\n", "profiles.quick.rounds"),
        ("profiles: {quick: {scenarios: [warp]}}\n", "profiles.quick.scenarios"),
        ("profiles: {quick: {scenarios: []}}\n", "profiles.quick.scenarios"),
        (
            "profiles: {quick: {durations: {iperf_seconds: 0}}}\n",
            "profiles.quick.durations.iperf_seconds",
        ),
        ("profiles: {nightly: {rounds: 2}}\n", "profiles.nightly.scenarios"),
        ("profiles: {'bad name': {scenarios: [latency]}}\n", "profiles.bad name"),
        ("profiles: [quick]\n", "profiles"),
    ],
)
def test_invalid_file_value_names_the_dotted_key(tmp_path: Path, text: str, key: str) -> None:
    err = error_of(tmp_path, text)
    assert err.key == key
    assert str(err).startswith(f"config {key}: ")


@pytest.mark.parametrize(
    ("var", "text"),
    [
        ("IPERF_DURATION", "abc"),
        ("IPERF_DURATION", "0"),
        ("FORTIO_DURATION", "-5"),
        ("ROUNDS", "abc"),
        ("ROUNDS", "0"),
        ("ROUNDS", "1.5"),
        ("ROUND_SLEEP", "-1"),
        ("SVC_SCALE_STEPS", "5000,x"),
        ("SVC_SCALE_STEPS", "10000,5000"),
        ("SVC_SCALE_STEPS", ""),
        ("SVC_ENDPOINTS", "0"),
        ("SVC_CREATE_PARALLEL", "many"),
        ("AUTO_FIX_LB_MAP", "maybe"),
        ("NETBENCH_CLUSTER", ""),
        ("NETBENCH_TARGET", "aws"),
        ("NETBENCH_DATAPATHS", "iptables,bpf"),
        ("NETBENCH_DATAPATHS", ""),
        ("NETBENCH_ROUTING", "geneve"),
        ("NETBENCH_STATE_DIR", ""),
        ("NETBENCH_NOISY_THRESHOLD", "0"),
        ("NETBENCH_WARMUP_SECONDS", "-1"),
        ("NETBENCH_PROGRAMMING_TIMEOUT", "0"),
        ("NETBENCH_LAB_PREFIX", "Bad!"),
        ("NETBENCH_IPTABLES_COMMAND", "rm"),
    ],
)
def test_invalid_environment_value_names_the_variable(var: str, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {var: text})
    assert info.value.key == var


def test_rounds_error_message_matches_the_documented_example() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"ROUNDS": "abc"})
    assert (info.value.key, info.value.reason) == ("ROUNDS", "must be an integer >= 1, got 'abc'")


def test_choice_error_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'ebpf'"):
        load_settings(None, {"NETBENCH_DATAPATHS": "bpf"})


def test_env_value_lands_in_a_file_section_that_is_not_a_mapping(tmp_path: Path) -> None:
    err = error_of(tmp_path, "durations: 5\n", {"IPERF_DURATION": "3"})
    assert err.key == "durations"


def test_kubernetes_target_accepts_any_sane_datapath_label(tmp_path: Path) -> None:
    s = load_text(tmp_path, "target: kubernetes\nlab: {datapaths: [cilium-native]}\n")
    assert s.lab.datapaths == ("cilium-native",)
    # ... but lab datapaths are checked once the target is the lab, whichever source set it.
    err = error_of(tmp_path, "lab: {datapaths: [cilium-native]}\n")
    assert err.key == "lab.datapaths"
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"NETBENCH_DATAPATHS": "cilium-native"})
    assert info.value.key == "NETBENCH_DATAPATHS"


# -- profiles -------------------------------------------------------------------------------


def test_builtin_profiles_quick_pins_full_follows_the_top_level() -> None:
    s = load_settings(None, {"ROUNDS": "5", "IPERF_DURATION": "10", "ROUND_SLEEP": "2"})
    quick, full = s.profiles["quick"], s.profiles["full"]
    assert (quick.rounds, quick.durations.iperf_seconds) == (1, 3.0)
    assert quick.durations.round_sleep_seconds == 0.0
    assert full.scenarios == SCENARIOS
    assert full.rounds == 5
    assert full.durations == Durations(10.0, 60.0, 5.0, 2.0)


def test_default_settings_profiles_are_the_builtins() -> None:
    assert load_settings(None, {}).profiles == Settings().profiles


def test_profile_merges_over_the_builtin(tmp_path: Path) -> None:
    s = load_text(tmp_path, "profiles: {quick: {durations: {http_seconds: 5}}}\n")
    quick = s.profiles["quick"]
    assert quick.scenarios == ("throughput", "http_rps", "latency")  # kept
    assert quick.rounds == 1  # kept
    assert quick.durations == Durations(3.0, 5.0, 1.0, 0.0)  # one field replaced
    assert s.profiles["full"] == Settings().profiles["full"]  # untouched


def test_profile_pin_wins_over_the_environment(tmp_path: Path) -> None:
    s = load_text(tmp_path, "profiles: {full: {rounds: 2}}\n", {"ROUNDS": "9"})
    assert s.rounds == 9
    assert s.profiles["full"].rounds == 2


def test_new_profile_inherits_the_top_level(tmp_path: Path) -> None:
    s = load_text(tmp_path, FULL_YAML)
    nightly = s.profiles["nightly"]
    assert nightly.name == "nightly"
    assert nightly.scenarios == ("throughput", "service_scale")
    assert nightly.rounds == 5
    assert nightly.durations == Durations(20.0, 10.0, 2.0, 0.0)
    assert s.profiles["quick"].rounds == 2
    assert set(s.profiles) == {"quick", "full", "nightly"}


# -- effective_plan -------------------------------------------------------------------------

Request = Callable[..., "SweepRequest"]


@pytest.fixture
def request_of() -> Request:
    """SweepRequest. exporter.sweep imports every scenario and tool adapter; loading config needs
    none of them, so only these tests wait for the whole runner to be importable."""
    sweep = pytest.importorskip(
        "exporter.sweep", reason="the sweep runner is not importable", exc_type=ImportError
    )
    factory: Request = sweep.SweepRequest
    return factory


def test_plan_from_the_profile_and_settings(request_of: Request) -> None:
    s = load_settings(None, {"NETBENCH_DATAPATHS": "iptables,ebpf", "SVC_SCALE_STEPS": "10,20"})
    plan = effective_plan(s, request_of(profile="quick"))
    assert plan == Plan(
        profile="quick",
        scenarios=("throughput", "http_rps", "latency"),
        datapaths=("iptables", "ebpf"),
        routing="native",
        rounds=1,
        durations=Durations(3.0, 3.0, 1.0, 0.0),
        scale_steps=(10, 20),
        endpoints_per_service=4,
    )


def test_request_overrides_win(request_of: Request) -> None:
    request = request_of(
        profile="full",
        scenarios=("latency",),
        datapaths=("nftables",),
        routing="vxlan",
        rounds=2,
        iperf_seconds=4.0,
        http_seconds=6.0,
        scale_steps=(100, 200),
    )
    plan = effective_plan(Settings(), request)
    assert plan.scenarios == ("latency",)
    assert plan.datapaths == ("nftables",)
    assert plan.routing == "vxlan"
    assert plan.rounds == 2
    assert plan.durations == Durations(4.0, 6.0, 5.0, 30.0)
    assert plan.scale_steps == (100, 200)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"profile": "quik"}, "profile"),
        ({"scenarios": ("warp",)}, "scenarios"),
        ({"scenarios": ()}, "scenarios"),
        ({"datapaths": ("ipvs",)}, "datapaths"),
        ({"datapaths": ("ebpf", "ebpf")}, "datapaths"),
        ({"routing": "geneve"}, "routing"),
        ({"rounds": 0}, "rounds"),
        ({"iperf_seconds": 0.0}, "iperf_seconds"),
        ({"http_seconds": -1.0}, "http_seconds"),
        ({"scale_steps": (20, 10)}, "scale_steps"),
        ({"scale_steps": ()}, "scale_steps"),
    ],
)
def test_invalid_request_names_the_field(
    request_of: Request, override: dict[str, object], key: str
) -> None:
    request = request_of(**override)
    with pytest.raises(ConfigError) as info:
        effective_plan(Settings(), request)
    assert info.value.key == key


def test_unknown_profile_suggests_the_closest(request_of: Request) -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'quick'\? \(known: full, quick\)"):
        effective_plan(Settings(), request_of(profile="quik"))
