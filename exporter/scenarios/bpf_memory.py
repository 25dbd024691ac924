"""bpf_memory: memory charged for the datapath's BPF maps, per node (seed: bpftool map show).

The same parser and aggregation serve the lab (its socket LB's maps) and Cilium nodes (maps
named ``cilium_``). Published: the total and the largest maps per node, and the map count.
"""

from __future__ import annotations

from exporter.errors import NotApplicable
from exporter.model import Sample
from exporter.scenarios.base import RoundContext, sample
from exporter.targets.base import BpfMapTarget, Target
from exporter.tools import bpftool

MEMORY_METRIC = "bpf_map_memory_bytes"
COUNT_METRIC = "bpf_maps"
TOP_MAPS = 10
TOTAL = "_total"
"""``map`` label value of the per-node total."""


class BpfMemory:
    name = "bpf_memory"

    def runs_per_round(self) -> int:
        return 1

    def run_round(self, target: Target, ctx: RoundContext) -> list[Sample]:
        if not isinstance(target, BpfMapTarget):
            raise NotApplicable(f"the {target.kind} target cannot list BPF maps")
        dumps = target.bpf_map_dumps()
        if not dumps:
            raise NotApplicable(f"datapath {target.datapath} uses no BPF maps")
        samples = []
        for node, (text, prefixes) in sorted(dumps.items()):
            memory = bpftool.aggregate(bpftool.parse(text), prefixes)
            if memory.count == 0:
                raise NotApplicable(f"no BPF map of datapath {target.datapath} on {node}")
            samples.append(sample(MEMORY_METRIC, memory.total_bytes, node=node, map=TOTAL))
            samples += [
                sample(MEMORY_METRIC, m.bytes_memlock, node=node, map=m.name)
                for m in memory.top(TOP_MAPS)
            ]
            samples.append(sample(COUNT_METRIC, memory.count, node=node))
        return samples
