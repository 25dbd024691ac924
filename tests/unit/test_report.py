"""Report rendering. The SweepResult here is constructed test data for the renderer (numbers
shaped like the article's), not tool output: parsing is tested in test_tool_*.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from exporter.model import (
    Measurement,
    ScenarioOutcome,
    Summary,
    SweepResult,
    SweepStatus,
    labels_of,
)
from exporter.report import (
    FORMATS,
    SCHEMA_VERSION,
    crossover,
    from_json,
    render,
    render_markdown,
    render_table,
    to_json,
)

T0 = 1_700_000_000.0
STEPS = (5000, 10000, 20000, 30000)
# Short / keepalive RPS per Service count (article section 4, iptables vs Cilium overlay).
SCALE = {
    "iptables": {
        0: (31365, 115434),
        5000: (22237, 115200),
        10000: (17261, 113000),
        20000: (12916, 115100),
        30000: (9057, 114600),
    },
    "ebpf": {
        0: (14193, 100955),
        5000: (13122, 101000),
        10000: (12746, 101050),
        20000: (13080, 101150),
        30000: (12879, 101460),
    },
}


def meas(scenario: str, dp: str, metric: str, values: list[float], **labels: object) -> Measurement:
    return Measurement(
        scenario=scenario,
        datapath=dp,
        metric=metric,
        labels=labels_of({k: str(v) for k, v in labels.items()}),
        values=tuple(float(v) for v in values),
        summary=Summary.of([float(v) for v in values]),
    )


def scale_outcome(dp: str) -> ScenarioOutcome:
    points = SCALE[dp]
    base_short, base_ka = points[0]
    out = []
    for n, (short, ka) in points.items():
        out += [
            meas(
                "service_scale",
                dp,
                "service_scale_requests_per_second",
                [short],
                services=n,
                connection="short",
            ),
            meas(
                "service_scale",
                dp,
                "service_scale_requests_per_second",
                [ka],
                services=n,
                connection="keepalive",
            ),
            meas(
                "service_scale", dp, "datapath_programming_seconds", [0.25 + n / 20000], services=n
            ),
            meas(
                "service_scale",
                dp,
                "datapath_entries",
                [n + 3],
                services=n,
                kind="kube_services_chain" if dp == "iptables" else "lb_entries",
            ),
        ]
        if n:
            out += [
                meas(
                    "service_scale",
                    dp,
                    "service_scale_degradation_ratio",
                    [(short - base_short) / base_short],
                    services=n,
                    connection="short",
                ),
                meas(
                    "service_scale",
                    dp,
                    "service_scale_degradation_ratio",
                    [(ka - base_ka) / base_ka],
                    services=n,
                    connection="keepalive",
                ),
            ]
    return ScenarioOutcome("service_scale", dp, True, tuple(out), finished_at=T0 + 80)


def example_result() -> SweepResult:
    gbps = 1e9 / 8  # bytes per second in one Gbit/s
    outcomes = [
        ScenarioOutcome(
            "throughput",
            "iptables",
            True,
            (
                meas(
                    "throughput",
                    "iptables",
                    "throughput_bytes_per_second",
                    [10.4 * gbps, 10.5 * gbps, 10.3 * gbps],
                    path="pod2pod",
                    streams=8,
                    tool="iperf3",
                ),
                meas(
                    "throughput",
                    "iptables",
                    "throughput_bytes_per_second",
                    [10.44 * gbps, 10.44 * gbps, 10.44 * gbps],
                    path="hostnet",
                    streams=8,
                    tool="iperf3",
                ),
            ),
            finished_at=T0 + 10,
        ),
        ScenarioOutcome(
            "throughput",
            "ebpf",
            False,
            error="ToolReportedError: iperf3: unable to connect",
            finished_at=T0 + 10,
        ),
        ScenarioOutcome(
            "http_rps",
            "iptables",
            True,
            (
                meas(
                    "http_rps",
                    "iptables",
                    "http_requests_per_second",
                    [115434, 110000, 120000],
                    path="service",
                    connection="keepalive",
                    concurrency=64,
                    tool="hey",
                ),
                meas(
                    "http_rps",
                    "iptables",
                    "http_requests_per_second",
                    [31365, 20000, 40000],
                    path="service",
                    connection="short",
                    concurrency=64,
                    tool="hey",
                ),
            ),
            finished_at=T0 + 20,
        ),
        ScenarioOutcome(
            "http_rps",
            "ebpf",
            True,
            (
                meas(
                    "http_rps",
                    "ebpf",
                    "http_requests_per_second",
                    [100955, 100900, 101000],
                    path="service",
                    connection="keepalive",
                    concurrency=64,
                    tool="hey",
                ),
            ),
            finished_at=T0 + 20,
        ),
        ScenarioOutcome(
            "latency",
            "ebpf",
            True,
            (
                meas(
                    "latency",
                    "ebpf",
                    "latency_seconds",
                    [118e-6, 118e-6, 118e-6],
                    test="tcp_rr",
                    quantile="0.99",
                    tool="sockperf",
                ),
                meas(
                    "latency",
                    "ebpf",
                    "latency_seconds",
                    [0.99e-3, 0.99e-3, 0.99e-3],
                    test="http_fixed_qps",
                    quantile="0.99",
                    tool="hey",
                ),
            ),
            finished_at=T0 + 30,
        ),
        ScenarioOutcome(
            "latency",
            "iptables",
            False,
            error="MeasurementInvalid: a | in the reason",
            finished_at=T0 + 30,
        ),
        scale_outcome("iptables"),
        scale_outcome("ebpf"),
    ]
    return SweepResult(
        id="0123456789ab",
        target="lab",
        cluster="lab",
        profile="full",
        trigger="cli",
        datapaths=("iptables", "ebpf"),
        routing="native",
        scenarios=("throughput", "http_rps", "latency", "service_scale"),
        started_at=T0,
        finished_at=T0 + 95,
        status=SweepStatus.FAILED,
        outcomes=outcomes,
        info={"iptables": {"kube_proxy_mode": "iptables"}, "ebpf": {"cni": "lab-sock-lb"}},
        settings={
            "rounds": 3,
            "iperf_seconds": 30.0,
            "http_seconds": 60.0,
            "warmup_seconds": 5.0,
            "round_sleep_seconds": 30.0,
            "scale_steps": list(STEPS),
            "endpoints_per_service": 4,
        },
    )


def row(text: str, label: str) -> list[str]:
    """The cells of the plain-text row starting with ``label`` (split on 2+ spaces)."""
    for line in text.splitlines():
        if line.startswith(label):
            return re.split(r"\s{2,}", line[len(label) :].strip())
    raise AssertionError(f"no row {label!r} in:\n{text}")


# -- crossover ------------------------------------------------------------------------------


def test_crossover_interpolates_linearly_between_the_steps() -> None:
    # a - b: 50, 20, -30 -> the sign changes between 10000 and 20000, 20/50 of the way.
    assert crossover([0, 10000, 20000], [100, 80, 40], [50, 60, 70]) == 14000.0


def test_crossover_is_symmetric_in_who_overtakes() -> None:
    assert crossover([0, 10000, 20000], [50, 60, 70], [100, 80, 40]) == 14000.0


def test_crossover_exactly_at_a_step() -> None:
    assert crossover([0, 5000, 10000], [10, 5, 0], [0, 5, 10]) == 5000.0


def test_crossover_level_over_several_steps_then_swapped() -> None:
    assert crossover([0, 1, 2, 3], [3, 2, 2, 1], [1, 2, 2, 3]) == 1.0


def test_no_crossover() -> None:
    assert crossover([0, 5000, 10000], [10, 9, 8], [1, 2, 3]) is None
    assert crossover([0, 5000, 10000], [10, 5, 10], [0, 5, 0]) is None  # touching only
    assert crossover([0, 5000, 10000], [5, 6, 7], [5, 5, 5]) is None  # level, then apart
    assert crossover([0, 5000], [5, 5], [5, 5]) is None
    assert crossover([], [], []) is None


def test_crossover_first_of_several() -> None:
    assert crossover([0, 10, 20, 30], [2, 0, 2, 0], [1, 1, 1, 1]) == 5.0


def test_crossover_on_the_article_curves() -> None:
    steps = [0, *STEPS]
    a = [SCALE["iptables"][s][0] for s in steps]
    b = [SCALE["ebpf"][s][0] for s in steps]
    # 17261-12746 = 4515 at 10000, 12916-13080 = -164 at 20000.
    assert crossover(steps, a, b) == 10000 + 10000 * 4515 / (4515 + 164)


def test_crossover_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        crossover([0, 1], [1], [1, 2])
    with pytest.raises(ValueError, match="ascending"):
        crossover([0, 10, 10], [1, 2, 3], [3, 2, 1])


# -- table ----------------------------------------------------------------------------------


def test_table_header_says_how_it_was_measured() -> None:
    text = render_table(example_result())
    assert text.startswith("netbench sweep 0123456789ab\n")
    for expected in (
        "target     lab",
        "profile    full",
        "routing    native",
        "rounds     3",
        "durations  iperf3 30 s (warm-up 5 s), HTTP/RR 60 s, round sleep 30 s",
        "started    2023-11-14 22:13:20 UTC",
        "finished   2023-11-14 22:14:55 UTC (1m35s)",
        "status     failed",
    ):
        assert expected in text


def test_table_at_a_glance_cells() -> None:
    text = render_table(example_result())
    assert row(text, "At a glance")  # the section exists
    header = text.split("At a glance\n")[1].splitlines()[1]
    assert header.split() == ["iptables", "ebpf"]
    # Gbit/s from bytes/s, relative stddev of 3 rounds; the failed datapath says so.
    assert row(text, "Pod2Pod throughput x8 (Gbit/s) [iperf3]") == ["10.40 ±1.0%", "failed"]
    assert row(text, "Host network throughput x8 (Gbit/s) [iperf3]") == ["10.44 ±0.0%", "failed"]
    assert row(text, "Service throughput x8 (Gbit/s)") == ["—", "failed"]
    assert row(text, "RPS keepalive c64, svc (req/s) [hey]") == ["115,434 ±4.3%", "100,955 ±0.0%"]
    # A noisy series carries the marker; ebpf did not measure this one.
    assert row(text, "RPS short conn c64, svc (req/s) [hey]") == ["31,365 ±32.9% !", "—"]
    assert row(text, "TCP_RR p99 (µs) [sockperf]") == ["failed", "118 ±0.0%"]
    assert row(text, "Short-conn TCP_CRR p99 (µs)") == ["failed", "—"]
    assert row(text, "HTTP p99 @1000 QPS (ms) [hey]") == ["failed", "0.99 ±0.0%"]
    assert row(text, "Short-conn RPS @5,000 svc (req/s)") == ["22,237", "13,122"]
    assert row(text, "Short-conn RPS @30,000 svc (req/s)") == ["9,057", "12,879"]
    assert row(text, "Short-conn degradation @30,000 svc") == ["-71.1%", "-9.3%"]


def test_single_round_cells_have_no_spread() -> None:
    text = render_table(example_result())
    assert "±" not in " ".join(row(text, "Short-conn RPS @20,000 svc (req/s)"))


def test_table_service_scale_and_crossover() -> None:
    text = render_table(example_result())
    scale = text.split("Service scale\n")[1].split("Failures\n")[0]
    assert "iptables" in scale.splitlines()[1] and "ebpf" in scale.splitlines()[1]
    assert row(scale, "0 (baseline)") == [
        "115,434",
        "31,365",
        "—",
        "3",
        "0.25 s",
        "100,955",
        "14,193",
        "—",
        "3",
        "0.25 s",
    ]
    assert row(scale, "30,000") == [
        "114,600",
        "9,057",
        "-0.7% / -71.1%",
        "30,003",
        "1.75 s",
        "101,460",
        "12,879",
        "+0.5% / -9.3%",
        "30,003",
        "1.75 s",
    ]
    assert "Entries on iptables: kube_services_chain." in scale
    assert "Entries on ebpf: lb_entries." in scale
    assert (
        "Crossover iptables / ebpf (short-connection RPS): "
        "ebpf overtakes iptables at ≈ 19,649 Services." in scale
    )


def test_no_crossover_sentence() -> None:
    result = example_result()
    result.outcomes = [o for o in result.outcomes if o.scenario != "service_scale"]
    result.outcomes.append(scale_outcome("iptables"))
    ebpf = scale_outcome("ebpf")
    # Keep ebpf's short curve below iptables' everywhere: drop the two steps where it leads.
    low = tuple(
        m
        for m in ebpf.measurements
        if not (
            m.metric == "service_scale_requests_per_second"
            and m.label_dict["services"] in ("20000", "30000")
        )
    )
    result.outcomes.append(ScenarioOutcome("service_scale", "ebpf", True, low))
    text = render_table(result)
    assert (
        "Crossover iptables / ebpf (short-connection RPS): "
        "no crossover in the measured range (iptables ahead throughout)." in text
    )
    assert row(text, "Short-conn RPS @30,000 svc (req/s)") == ["9,057", "—"]


def test_failed_scale_datapath_and_three_way_pairs() -> None:
    result = example_result()
    result.datapaths = ("iptables", "nftables", "ebpf")
    result.outcomes.append(
        ScenarioOutcome("service_scale", "nftables", False, error="DatapathNotProgrammed: 5000")
    )
    text = render_table(result)
    assert row(text.split("Service scale\n")[1], "5,000")[5:10] == ["failed"] * 5
    assert "Crossover iptables / nftables (short-connection RPS): not enough data" in text
    assert "Crossover nftables / ebpf" in text
    assert "Crossover iptables / ebpf" in text


def test_failures_section() -> None:
    text = render_table(example_result())
    failures = text.split("Failures\n")[1]
    assert "throughput  ebpf      ToolReportedError: iperf3: unable to connect" in failures
    assert "latency     iptables  MeasurementInvalid: a | in the reason" in failures


def test_sweep_level_error_and_no_scale_section() -> None:
    result = example_result()
    result.scenarios = ("throughput",)
    result.outcomes = []
    result.status = SweepStatus.CANCELLED
    result.error = "cancelled"
    text = render_table(result)
    assert "Service scale" not in text
    assert "Short-conn" not in text
    assert "error      cancelled" in text
    assert "Sweep: cancelled" in text
    assert row(text, "Pod2Pod throughput x8 (Gbit/s)") == ["—", "—"]


def test_running_sweep() -> None:
    result = example_result()
    result.finished_at = None
    result.status = SweepStatus.RUNNING
    assert "finished   — (still running)" in render_table(result)


# -- markdown -------------------------------------------------------------------------------


def test_markdown() -> None:
    text = render_markdown(example_result())
    assert text.startswith("# netbench sweep 0123456789ab\n")
    assert "- **rounds**: 3\n" in text
    assert "## At a glance\n\n|  | iptables | ebpf |\n| --- | ---: | ---: |\n" in text
    assert "| Pod2Pod throughput x8 (Gbit/s) [iperf3] | 10.40 ±1.0% | failed |" in text
    assert "| RPS short conn c64, svc (req/s) [hey] | 31,365 ±32.9% ! | — |" in text
    assert "| Services | iptables keepalive req/s | iptables short req/s |" in text
    assert "| 20,000 | 115,100 | 12,916 |" in text
    assert "ebpf overtakes iptables at ≈ 19,649 Services." in text
    # A pipe inside a cell is escaped so the table keeps its columns.
    assert "| latency | iptables | MeasurementInvalid: a \\| in the reason |" in text
    for line in text.splitlines():
        if line.startswith("| "):
            assert line.endswith(" |")


# -- json -----------------------------------------------------------------------------------


def test_json_round_trip() -> None:
    result = example_result()
    text = to_json(result)
    assert from_json(text) == result
    assert to_json(from_json(text)) == text


def test_json_shape_and_base_units() -> None:
    doc = json.loads(to_json(example_result()))
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert doc["status"] == "failed"
    assert doc["started_at"] == T0
    first = doc["outcomes"][0]["measurements"][0]
    assert first["metric"] == "throughput_bytes_per_second"
    assert first["labels"] == {"path": "pod2pod", "streams": "8", "tool": "iperf3"}
    assert first["summary"]["value"] == 10.4e9 / 8  # bytes/s, not Gbit/s
    assert first["summary"]["rounds"] == 3
    failed = doc["outcomes"][1]
    assert failed["success"] is False and failed["measurements"] == []


def test_json_rejects_other_versions_and_bad_fields() -> None:
    doc = json.loads(to_json(example_result()))
    with pytest.raises(ValueError, match="schema_version 2"):
        from_json(json.dumps({**doc, "schema_version": 2}))
    with pytest.raises(ValueError, match=r"\$\.status"):
        from_json(json.dumps({**doc, "status": "sleeping"}))
    bad = json.loads(to_json(example_result()))
    bad["outcomes"][0]["measurements"][0]["summary"]["rounds"] = "3"
    with pytest.raises(ValueError, match=r"\$\.outcomes\[0\]\.measurements\[0\]\.summary\.rounds"):
        from_json(json.dumps(bad))
    with pytest.raises(ValueError, match="must be an object"):
        from_json("[]")


def test_render_dispatch() -> None:
    result = example_result()
    assert render(result, "table") == render_table(result)
    assert render(result, "markdown") == render_markdown(result)
    assert render(result, "json") == to_json(result)
    assert FORMATS == ("table", "markdown", "json")
    with pytest.raises(ValueError, match="unknown report format"):
        render(result, "html")


def test_documented_json_example_is_current() -> None:
    """docs/report-json.md's example parses and re-renders byte for byte."""
    doc = (Path(__file__).parents[2] / "docs" / "report-json.md").read_text(encoding="utf-8")
    example = doc.split("```json\n", 1)[1].split("```", 1)[0]
    assert to_json(from_json(example)) == example


def test_all_series_and_skipped_sections_show_everything_measured() -> None:
    from exporter.model import Measurement, ScenarioOutcome, Summary, SweepResult, labels_of

    m = Measurement(
        scenario="bpf_memory",
        datapath="ebpf",
        metric="bpf_map_memory_bytes",
        labels=labels_of({"node": "node-b", "map": "_total"}),
        values=(89656512.0,),
        summary=Summary.of([89656512.0]),
    )
    result = SweepResult(
        id="s1", target="lab", cluster="lab", profile="full", trigger="cli",
        datapaths=("iptables", "ebpf"), routing="native", scenarios=("bpf_memory",),
        started_at=0.0, finished_at=1.0,
        outcomes=[ScenarioOutcome("bpf_memory", "ebpf", True, (m,))],
        skipped=["bpf_memory on iptables: datapath iptables uses no BPF maps"],
    )  # fmt: skip
    text = render(result, "table")
    assert "BPF map memory / node (MiB)" in text and "85.5" in text
    assert "bpf_map_memory_bytes{map=_total,node=node-b}" in text
    assert "Not applicable" in text and "uses no BPF maps" in text
    assert from_json(to_json(result)).skipped == result.skipped
