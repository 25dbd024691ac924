import pytest

from exporter.targets.lab.policy import PolicySpec, l7_proxy_config, nft_ruleset

SPEC = PolicySpec(
    table="nb1234-policy",
    server="198.18.64.2",
    ports=(80, 5201),
    allowed_sources=("198.18.65.2",),
)


def test_none_renders_nothing() -> None:
    assert nft_ruleset(SPEC, "none") == ""


def test_l3l4_drops_sources_outside_the_set() -> None:
    text = nft_ruleset(SPEC, "l3l4")
    assert "elements = { 198.18.65.2 }" in text
    assert "ip daddr 198.18.64.2 tcp dport { 80, 5201 } ip saddr != @allowed counter drop" in text
    assert "redirect" not in text


def test_l7_adds_the_proxy_redirect() -> None:
    text = nft_ruleset(SPEC, "l7")
    assert "@allowed counter drop" in text
    assert "ip daddr 198.18.64.2 tcp dport 80 counter redirect to :15001" in text


def test_unknown_policy_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        nft_ruleset(SPEC, "l4")


def test_addresses_outside_the_lab_range_are_refused() -> None:
    bad = PolicySpec(table="t", server="192.0.2.1", ports=(80,), allowed_sources=())
    with pytest.raises(ValueError, match="outside"):
        nft_ruleset(bad, "l3l4")


def test_proxy_allows_only_get() -> None:
    conf = l7_proxy_config(
        server="198.18.64.2",
        http_port=80,
        listen_port=15001,
        status_port=15002,
        pid_file="/run/x.pid",
        temp_dir="/run/x",
    )
    assert "limit_except GET { deny all; }" in conf
    assert "server 198.18.64.2:80;" in conf
    assert "listen 127.0.0.1:15002;" in conf
