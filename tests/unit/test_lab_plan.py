import ipaddress
import re
from pathlib import Path

import pytest

from exporter.targets.lab import plan

LAB_DIR = Path(plan.__file__).parent
LAB_FILES = [
    LAB_DIR / n
    for n in ("plan.py", "rules.py", "target.py", "janitor.py", "datapaths.py", "procs.py")
]


def test_every_address_constant_is_in_the_lab_ranges() -> None:
    allowed = [plan.LAB_RANGE]
    for name in dir(plan):
        value = getattr(plan, name)
        if isinstance(value, ipaddress.IPv4Network):
            assert value.subnet_of(plan.LAB_RANGE), name
        elif isinstance(value, str) and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", value):
            assert any(ipaddress.IPv4Address(value) in n for n in allowed), name


def test_no_foreign_address_literal_in_lab_sources() -> None:
    for path in LAB_FILES:
        for literal in re.findall(
            r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?:/\d+)?\b", path.read_text()
        ):
            net = ipaddress.IPv4Network(literal, strict=False)
            assert net.subnet_of(plan.LAB_RANGE) or net.subnet_of(
                ipaddress.IPv4Network("127.0.0.0/8")
            ), f"{path.name}: {literal}"


def test_service_cidr_and_dummy_ranges() -> None:
    assert ipaddress.IPv4Network("198.19.0.0/16") == plan.SERVICE_CIDR
    assert ipaddress.IPv4Network("198.18.128.0/17") == plan.DUMMY_ENDPOINTS
    assert plan.CLUSTER_CIDR.supernet_of(plan.POD_CIDR_A)
    assert plan.CLUSTER_CIDR.supernet_of(plan.POD_CIDR_B)


@pytest.mark.parametrize("prefix", ["nb0000", "nbffff", "abcdefgh"])
def test_names_fit_ifnamsiz(prefix: str) -> None:
    names = plan.LabNames(prefix)
    assert all(len(i) <= plan.IFNAMSIZ for i in names.interfaces)
    assert all(n.startswith(prefix + "-") for n in names.namespaces)
    assert len(set(names.namespaces)) == 4


def test_random_prefixes_match_the_pattern() -> None:
    for _ in range(20):
        assert plan.DEFAULT_PREFIX_RE.match(plan.new_prefix())


@pytest.mark.parametrize("bad", ["", "n", "NB1234", "nb-12", "abcdefghi", "1abc", "nb12;rm"])
def test_bad_prefixes_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        plan.check_prefix(bad)


def test_namespace_belongs_to() -> None:
    assert plan.namespace_belongs_to("nb1234-node-a", "nb1234")
    assert not plan.namespace_belongs_to("nb1234-node-c", "nb1234")
    assert not plan.namespace_belongs_to("nb12345-node-a", "nb1234")
