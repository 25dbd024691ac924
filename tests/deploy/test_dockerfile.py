"""The Dockerfile, statically: pinned versions, a numeric non-root USER, no secrets.

``docker build`` cannot run on our machines (no container engine), so these checks are what
stands between a careless edit and an unpinned or root image."""

from __future__ import annotations

import re
import tomllib

from deploy_helpers import ROOT

DOCKERFILE = ROOT / "Dockerfile"
SECRET_WORDS = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|API_KEY|PRIVATE_KEY", re.IGNORECASE)


def instructions(text: str | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text(encoding="utf-8") if text is None else text
    out: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, _, rest = current.partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    assert not current, "dangling line continuation"
    return out


def _stages(ins: list[tuple[str, str]]) -> list[str]:
    return [args for word, args in ins if word == "FROM"]


def test_multi_stage_and_every_image_pinned() -> None:
    froms = _stages(instructions())
    assert len(froms) >= 2, "multi-stage: build and runtime"
    for args in froms:
        image = args.split()[0]
        if image in {a.split()[-1] for a in froms if " AS " in a.upper()}:
            continue  # a previous stage
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and tag, f"{image}: no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{image}: not a pinned version tag"
        if name.endswith("debian"):
            assert re.search(r"@sha256:[0-9a-f]{64}$", image), f"{image}: base without digest"
    assert "latest" not in DOCKERFILE.read_text(encoding="utf-8").lower().replace(
        "latest version", ""
    )


def test_copy_from_images_are_stages_or_pinned() -> None:
    ins = instructions()
    stages = {a.split()[-1].lower() for a in _stages(ins) if " as " in a.lower()}
    for word, args in ins:
        if word == "COPY" and "--from=" in args:
            source = re.search(r"--from=(\S+)", args)
            assert source is not None
            ref = source.group(1)
            assert ref.lower() in stages or re.search(r":[\w.-]*\d", ref), ref


def _apt_packages(run: str) -> list[str]:
    m = re.search(r"apt-get install ([^&;|]*)", run)
    return [] if m is None else [w for w in m.group(1).split() if not w.startswith("-")]


def test_every_apt_package_is_pinned_to_a_version() -> None:
    runs = [args for word, args in instructions() if word == "RUN" and "apt-get install" in args]
    assert runs
    packages = [p for run in runs for p in _apt_packages(run)]
    assert packages
    for pkg in packages:
        assert re.fullmatch(r"[a-z0-9.+-]+=[0-9][\w.+:~-]*", pkg), f"unpinned apt package {pkg}"
    names = {p.split("=")[0] for p in packages}
    tools = {"iperf3", "netperf", "sockperf", "hey", "nginx-light", "python3", "coreutils"}
    tools |= {"iproute2", "iptables", "nftables", "bpftool"}
    assert tools <= names, tools - names
    assert "fortio" in DOCKERFILE.read_text(encoding="utf-8")


def test_every_python_dependency_is_pinned() -> None:
    runs = [args for word, args in instructions() if word == "RUN" and "pip install" in args]
    pinned: dict[str, str] = {}
    for run in runs:
        for m in re.finditer(r"pip install ([^&;|]*)", run):
            for word in m.group(1).split():
                if word.startswith("-") or word == ".":
                    continue
                name, sep, version = word.partition("==")
                assert sep and version, f"unpinned pip requirement {word}"
                pinned[re.sub(r"[-_.]+", "-", name.lower())] = version
        if " . " in f"{run} ":
            assert "--no-deps" in run, "the package itself must not pull unpinned dependencies"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for req in project["project"]["dependencies"]:
        name = re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0]
        assert re.sub(r"[-_.]+", "-", name.lower()) in pinned, f"{name} not pinned"


def test_runs_as_a_numeric_non_root_user() -> None:
    ins = instructions()
    last_from = max(i for i, (w, _) in enumerate(ins) if w == "FROM")
    users = [args for word, args in ins[last_from:] if word == "USER"]
    assert users, "the runtime stage sets no USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) != 0), users[-1]


def test_no_secrets() -> None:
    ins = instructions()
    for word, args in ins:
        if word in ("ENV", "ARG"):
            for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?", args):
                if SECRET_WORDS.search(m.group(1)):
                    raise AssertionError(f"{word} {m.group(1)}: secrets do not belong in images")
        if word in ("COPY", "ADD"):
            assert not re.search(r"(^|[\s/])\.env\b|\.pem\b|id_rsa|\.key\b|token", args), args
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "**", "the build context must be an allow-list (.env never sent)"
    assert not any(".env" in line for line in ignore if line.startswith("!"))


def test_read_only_root_writable_paths_are_volumes() -> None:
    ins = instructions()
    volumes = " ".join(args for word, args in ins if word == "VOLUME")
    for path in ("/tmp", "/run/netbench", "/var/lib/netbench"):
        assert path in volumes, path
    labels = " ".join(args for word, args in ins if word == "LABEL")
    for key in ("title", "version", "licenses", "description"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_the_checks_catch_bad_dockerfiles() -> None:
    bad = "FROM debian:latest\nRUN apt-get install -y iperf3\nENV API_TOKEN=x\nUSER root\n"
    ins = instructions(bad)
    assert ins[0] == ("FROM", "debian:latest")
    assert _apt_packages(ins[1][1]) == ["iperf3"]
    assert SECRET_WORDS.search("API_TOKEN")
