# netbench: the exporter and every benchmark tool it runs, in one image.
#
#   docker build -t netbench:0.1.0 .
#
# Plain Dockerfile syntax (no BuildKit-only features), amd64. Every version is pinned: the base
# image by tag and digest, Debian packages by exact version (look them up with
# `apt-cache policy <pkg>` in a bookworm container and bump them together: the Debian archive
# only serves the current version of each package), Python dependencies by exact version (the
# set the test suite runs with), fortio by image tag. tests/deploy/test_dockerfile.py checks it.
#
# The runtime runs as UID/GID 65532 with a read-only root filesystem: the only writable paths are
# volumes (/tmp, /run/netbench for lab state, /var/lib/netbench for the SQLite history and the
# mutation journal). Kubernetes probes /healthz and /readyz: no HEALTHCHECK here.

# -- fortio: the static binary from its official image ------------------------------------------
FROM fortio/fortio:1.75.3 AS fortio

# -- build: the package and its pinned dependencies in a virtual environment --------------------
FROM debian:bookworm-20251229@sha256:4216e8fe27fdd803d2822d08ed9de39825a41a47e34c32b71a23ac074f91eaf4 AS build

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3=3.11.2-1+b1 \
        python3-venv=3.11.2-1+b1 \
        ca-certificates=20250419~deb12u2 \
    && rm -rf /var/lib/apt/lists/*

RUN python3 -m venv /opt/netbench \
    && /opt/netbench/bin/pip install \
        setuptools==75.8.0 \
        wheel==0.45.1 \
        aiohappyeyeballs==2.7.1 \
        aiohttp==3.14.5 \
        aiohttp-retry==2.9.1 \
        aiosignal==1.4.0 \
        annotated-doc==0.0.7 \
        annotated-types==0.8.0 \
        anyio==4.16.0 \
        apscheduler==3.11.3 \
        attrs==26.1.0 \
        certifi==2026.10.19.post1 \
        charset-normalizer==3.5.3 \
        click==8.5.1 \
        durationpy==0.11 \
        fastapi==0.165.0 \
        frozenlist==1.8.0 \
        grafanalib==0.7.1 \
        h11==0.16.0 \
        idna==3.21 \
        kubernetes==37.0.3 \
        multidict==7.2.1 \
        oauthlib==4.0.1 \
        opentelemetry-api==1.45.3 \
        prometheus-client==0.26.0 \
        propcache==0.5.4 \
        pydantic==2.14.4 \
        pydantic-core==2.50.5 \
        python-dateutil==4.0.0 \
        pyyaml==6.0.4 \
        requests==2.34.2 \
        requests-oauthlib==2.0.0 \
        starlette==1.10.0 \
        typing-extensions==4.16.0 \
        typing-inspection==0.4.5 \
        tzdata==2026.6 \
        tzlocal==5.4.5 \
        urllib3==2.8.0 \
        uvicorn==0.55.0 \
        websocket-client==1.9.2 \
        yarl==1.25.1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# --no-deps: every dependency is the pinned one above; --no-build-isolation: the pinned
# setuptools/wheel build it (nothing unpinned is fetched).
RUN /opt/netbench/bin/pip install --no-deps --no-build-isolation . \
    && /opt/netbench/bin/python -c "import exporter.cli"

# -- runtime ------------------------------------------------------------------------------------
FROM debian:bookworm-20251229@sha256:4216e8fe27fdd803d2822d08ed9de39825a41a47e34c32b71a23ac074f91eaf4

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="netbench" \
      org.opencontainers.image.description="Continuous Kubernetes datapath benchmarks published as Prometheus metrics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-20251229"

ENV DEBIAN_FRONTEND=noninteractive

# netperf is in Debian's non-free component (its licence); everything else is main.
RUN sed -i 's/^Components: main$/Components: main non-free/' /etc/apt/sources.list.d/debian.sources \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        python3=3.11.2-1+b1 \
        python3-minimal=3.11.2-1+b1 \
        ca-certificates=20250419~deb12u2 \
        coreutils=9.1-1 \
        procps=2:4.0.2-3 \
        iproute2=6.1.0-3 \
        iptables=1.8.9-2 \
        nftables=1.0.6-2+deb12u2 \
        bpftool=7.1.0+6.1.192-3 \
        iperf3=3.12-1+deb12u2 \
        netperf=2.7.0-0.1 \
        sockperf=3.7-1 \
        hey=0.1.4-2+b4 \
        nginx-light=1.22.1-9+deb12u12 \
        tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* \
    && groupadd --system --gid 65532 netbench \
    && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/netbench \
        --no-create-home --shell /usr/sbin/nologin netbench \
    && mkdir -p /var/lib/netbench /run/netbench \
    && chown 65532:65532 /var/lib/netbench /run/netbench

COPY --from=fortio /usr/bin/fortio /usr/local/bin/fortio
COPY --from=build /opt/netbench /opt/netbench

ENV PATH=/opt/netbench/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    NETBENCH_DB=/var/lib/netbench/netbench.db \
    NETBENCH_STATE_DIR=/run/netbench

# Writable paths; mount emptyDir/volumes here when the root filesystem is read-only.
VOLUME ["/tmp", "/run/netbench", "/var/lib/netbench"]
WORKDIR /var/lib/netbench
USER 65532:65532
EXPOSE 9101

ENTRYPOINT ["/usr/bin/tini", "--", "netbench"]
CMD ["serve"]
