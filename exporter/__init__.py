"""netbench: continuous Kubernetes datapath benchmarks published as Prometheus metrics."""

__version__ = "0.1.0"
