"""Parsing the addresses users type."""

import pytest

from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    LinkKind,
    parse_endpoint,
)


@pytest.mark.parametrize(
    ("url", "kind", "address"),
    [
        ("tcp://10.0.0.5:502", LinkKind.TCP, "10.0.0.5:502"),
        ("tcp://Gateway.local", LinkKind.TCP, "gateway.local:502"),
        ("rtu-over-tcp://10.0.0.6:8899", LinkKind.RTU_OVER_TCP, "10.0.0.6:8899"),
        ("tcp://[fe80::1]:1502", LinkKind.TCP, "[fe80::1]:1502"),
        ("/dev/ttyUSB0", LinkKind.SERIAL, "/dev/ttyUSB0"),
        ("socket://pi-shed:4001", LinkKind.SERIAL, "socket://pi-shed:4001"),
        ("rfc2217://pi-shed:4002", LinkKind.SERIAL, "rfc2217://pi-shed:4002"),
        ("COM3", LinkKind.SERIAL, "COM3"),
        (
            "/dev/serial/by-id/usb-FTDI-if00",
            LinkKind.SERIAL,
            "/dev/serial/by-id/usb-FTDI-if00",
        ),
    ],
)
def test_urls(url: str, kind: LinkKind, address: str) -> None:
    endpoint = parse_endpoint(url, baudrate=19200)
    assert endpoint.kind is kind
    assert endpoint.address == address
    if kind is LinkKind.SERIAL:
        assert endpoint.serial is not None
        assert endpoint.serial.baudrate == 19200


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "no address given"),
        ("tcp://", "no host"),
        ("tcp://host:99999", "invalid port"),
        ("http://host:80", "unknown scheme 'http'.*; accepted: tcp://HOST:PORT"),
        # A host and port alone: an address missing its scheme, no device path.
        ("127.0.0.1:5020", "127.0.0.1:5020 needs a scheme; accepted: tcp://"),
        ("pi-shed:4001", "needs a scheme; accepted: .*socket://HOST:PORT"),
        ("[fe80::1]:502", "needs a scheme"),
    ],
)
def test_bad_urls_say_why(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_endpoint(url)


def test_bus_key_ignores_line_settings() -> None:
    slow = parse_endpoint("/dev/ttyUSB0", baudrate=9600)
    fast = parse_endpoint("/dev/ttyUSB0", baudrate=19200)
    assert slow.bus_key == fast.bus_key
    assert slow != fast
