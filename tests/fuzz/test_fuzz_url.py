"""Fuzzing the URL checker of the image fetcher (:func:`artrec.images.fetch.check_url`).

Addresses are spelled every way the operating system's resolver accepts (dotted, short
``a.b`` / ``a.b.c`` forms, decimal, hex, octal, mixed) and resolved by it for real; the
verdict is compared with an independent statement of the IANA special-purpose blocks as
integer ranges.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from fuzzing import case, fuzz, outcome
from hypothesis import given
from hypothesis import strategies as st

from artrec.images.fetch import CheckedURL, FetchError, check_url


def _range(cidr: str) -> tuple[int, int]:
    net = ipaddress.ip_network(cidr)
    return int(net.network_address), int(net.broadcast_address)


#: (first, last, category) of every refused IPv4 block; the two global exceptions first.
IPV4_ALLOWED_INSIDE = [_range("192.0.0.9/32"), _range("192.0.0.10/32")]
IPV4_REFUSED = [
    (*_range("0.0.0.0/8"), "unspecified"),
    (*_range("10.0.0.0/8"), "private"),
    (*_range("100.64.0.0/10"), "private"),
    (*_range("127.0.0.0/8"), "loopback"),
    (*_range("169.254.0.0/16"), "link-local"),
    (*_range("172.16.0.0/12"), "private"),
    (*_range("192.0.0.0/24"), "reserved"),
    (*_range("192.0.2.0/24"), "reserved"),
    (*_range("192.88.99.0/24"), "reserved"),
    (*_range("192.168.0.0/16"), "private"),
    (*_range("198.18.0.0/15"), "reserved"),
    (*_range("198.51.100.0/24"), "reserved"),
    (*_range("203.0.113.0/24"), "reserved"),
    (*_range("224.0.0.0/4"), "multicast"),
    (*_range("240.0.0.0/4"), "reserved"),
]


def ipv4_verdict(value: int) -> str | None:
    if any(lo <= value <= hi for lo, hi in IPV4_ALLOWED_INSIDE):
        return None
    return next((cat for lo, hi, cat in IPV4_REFUSED if lo <= value <= hi), None)


#: Addresses near the edges of every block, so each boundary is exercised.
EDGES = sorted(
    {
        v + d
        for lo, hi, _ in IPV4_REFUSED
        for v in (lo, hi)
        for d in (-1, 0, 1)
        if 0 <= v + d < 2**32
    }
    | {v for lo, hi in IPV4_ALLOWED_INSIDE for v in (lo - 1, lo, hi + 1)}
)


def _part(value: int, base: str) -> str:
    if base == "hex":
        return hex(value)
    if base == "HEX":
        return "0X" + format(value, "X")
    if base == "oct" and value:
        return "0" + format(value, "o")
    return str(value)


@st.composite
def ipv4_spellings(draw: st.DrawFn) -> tuple[str, int]:
    inside = st.sampled_from(IPV4_REFUSED).flatmap(lambda block: st.integers(block[0], block[1]))
    value = draw(st.sampled_from(EDGES) | inside | st.integers(0, 2**32 - 1))
    parts = draw(st.integers(1, 4))
    octets = value.to_bytes(4, "big")
    head = list(octets[: parts - 1])
    last = int.from_bytes(octets[parts - 1 :], "big")
    bases = st.sampled_from(["dec", "hex", "HEX", "oct"])
    text = ".".join([_part(o, draw(bases)) for o in head] + [_part(last, draw(bases))])
    return text, value


@fuzz(600)
@given(
    spelling=ipv4_spellings(),
    private=st.booleans(),
    https=st.booleans(),
    port=st.integers(1, 65535),
)
def test_every_ipv4_spelling_gets_the_verdict_of_its_address(
    spelling: tuple[str, int], private: bool, https: bool, port: int
) -> None:
    case("url/ipv4")
    text, value = spelling
    url = f"{'https' if https else 'http'}://{text}:{port}/a.jpg"
    ok, result = outcome(lambda: check_url(url, allow_private=private))
    verdict = ipv4_verdict(value)
    allowed = verdict is None or (private and verdict in ("loopback", "private"))
    assert ok == allowed, (url, verdict, result)
    if ok:
        assert isinstance(result, CheckedURL)
        assert result.addresses == (str(ipaddress.IPv4Address(value)),)
        assert (result.host, result.port, result.target) == (text.lower(), port, "/a.jpg")
    else:
        assert isinstance(result, FetchError) and result.reason == "refused address"


def ipv6_verdict(ip: ipaddress.IPv6Address) -> str | None:
    v = int(ip)
    if v >> 32 == 0xFFFF:  # ::ffff:a.b.c.d
        return ipv4_verdict(v & 0xFFFFFFFF)
    if v >> 32 == 0x64FF9B << 64:  # 64:ff9b::/96
        return ipv4_verdict(v & 0xFFFFFFFF)
    if v >> 112 == 0x2002:  # 6to4
        return ipv4_verdict((v >> 80) & 0xFFFFFFFF)
    blocks = [
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fe80::/10", "link-local"),
        ("ff00::/8", "multicast"),
        ("fc00::/7", "private"),
    ]
    for cidr, category in blocks:
        if ip in ipaddress.ip_network(cidr):
            return category
    globals_inside = [
        "2001:1::1/128",
        "2001:1::2/128",
        "2001:3::/32",
        "2001:4:112::/48",
        "2001:20::/28",
        "2001:30::/28",
    ]
    if any(ip in ipaddress.ip_network(c) for c in globals_inside):
        return None
    reserved = [
        "fec0::/10",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "3fff::/20",
        "5f00::/16",
    ]
    if any(ip in ipaddress.ip_network(c) for c in reserved) or v >> 125 != 1:  # not 2000::/3
        return "reserved"
    return None


SPECIAL_V6 = st.sampled_from(
    [
        "::1",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "::ffff:10.1.1.1",
        "64:ff9b::7f00:1",
        "64:ff9b::808:808",
        "2002:7f00:1::",
        "2002:808:808::1",
        "fe80::1",
        "fc00::",
        "ff02::1",
        "2001:db8::",
        "2001:4:112::1",
        "2001::1",
        "2606:4700::1111",
        "4000::",
        "::127.0.0.1",
    ]
).map(ipaddress.IPv6Address)


@fuzz(400)
@given(ip=SPECIAL_V6 | st.ip_addresses(v=6), private=st.booleans(), compressed=st.booleans())
def test_every_ipv6_address_gets_its_verdict(
    ip: ipaddress.IPv6Address, private: bool, compressed: bool
) -> None:
    case("url/ipv6")
    text = ip.compressed if compressed else ip.exploded
    url = f"http://[{text}]/x"
    ok, result = outcome(lambda: check_url(url, allow_private=private))
    verdict = ipv6_verdict(ip)
    allowed = verdict is None or (private and verdict in ("loopback", "private"))
    assert ok == allowed, (url, verdict, result)


def _public(host: str, port: int) -> list[str]:
    return ["93.184.215.14"]


URL_PIECES = st.sampled_from(
    [
        "http://",
        "https://",
        "HTTP://",
        "file://",
        "ftp://",
        "//",
        "@",
        ":",
        "::",
        "[",
        "]",
        "/",
        "?",
        "#",
        "%",
        "%00",
        "%2e%2e",
        "..",
        "\\",
        " ",
        "\t",
        "\n",
        "\x00",
        "\u3000",
        "\ud800",
        "user:pw@",
        "example.org",
        "xn--",
        "\u00e9",
        ":80",
        ":0",
        ":65536",
        ":-1",
        "[::1]",
        "127.0.0.1",
        "a" * 70,
        ".",
    ]
)


@fuzz(500)
@given(
    pieces=st.lists(URL_PIECES | st.text(max_size=5), max_size=8),
    prefix=st.sampled_from(["http://", "https://", ""]),
)
def test_arbitrary_url_text_is_checked_or_refused_cleanly(pieces: list[str], prefix: str) -> None:
    case("url/text")
    url = prefix + "".join(pieces)
    ok, result = outcome(lambda: check_url(url, resolve=_public))
    if not ok:
        assert isinstance(result, FetchError)
        return
    assert isinstance(result, CheckedURL)
    assert result.scheme in ("http", "https") and result.host and 0 < result.port < 65536
    assert result.target.startswith("/")
    assert all(33 <= ord(c) < 127 for c in result.target), result.target  # nothing to inject
    assert result.addresses == ("93.184.215.14",)


@fuzz(200)
@given(
    answers=st.lists(
        st.ip_addresses().map(str)
        | st.sampled_from(["", "localhost", "1.2.3", "::g", "8.8.8.8%x"]),
        max_size=4,
    )
)
def test_whatever_a_resolver_answers_is_checked(answers: list[Any]) -> None:
    case("url/resolver")

    def resolve(host: str, port: int) -> list[str]:
        return answers

    ok, result = outcome(lambda: check_url("http://images.example/a.jpg", resolve=resolve))
    if ok:
        assert answers and result.addresses == tuple(answers)
        for a in answers:
            ip = ipaddress.ip_address(a)
            verdict = ipv4_verdict(int(ip)) if ip.version == 4 else ipv6_verdict(ip)
            assert verdict is None
