"""A node's configuration file (YAML), checked whole before anything starts.

Every mistake is reported with the key it is at (``components[2].url: ...``),
all of them at once, so an installer fixes the file in one go. Nothing here
touches a device or the broker.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import math
from pathlib import Path
import re
from typing import Any

import yaml

from custom_components.energy_orchestrator.lib.drivers.commands import CommandKind
from custom_components.energy_orchestrator.lib.drivers.families import FAMILIES
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    Endpoint,
    parse_endpoint,
)

from .state_file import default_state_file

# What a node, a component or a prefix may be called: one MQTT topic level
# with no wildcard, no separator and nothing a shell or a URL would mangle.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_PREFIX = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")
DEFAULT_PREFIX = "energy_orchestrator"
DEFAULT_MQTT_PORT = 1883
DEFAULT_HEARTBEAT_TIMEOUT_S = 30.0
DEFAULT_INTERVAL_S = 5.0
# Faster than this, a serial bus at 9600 baud cannot answer a whole device.
MIN_INTERVAL_S = 0.2
MAX_INTERVAL_S = 3600.0
# The largest serial speed a USB adapter reaches; anything above is a typo.
_MAX_BAUDRATE = 4_000_000
# Topic levels the node itself uses under its own name.
RESERVED_IDS = frozenset({"status", "heartbeat", "event"})
RELEASE = "release"
# The keys a family reached over CAN takes instead of ``url`` (python-can).
CAN_KEYS = ("interface", "channel", "bitrate", "keepalive")
# Classical CAN runs from 10 kbit/s to 1 Mbit/s.
_CAN_BITRATES = (10_000, 1_000_000)


class ConfigError(ValueError):
    """The configuration is not usable; ``problems`` says every reason, by key."""

    def __init__(self, problems: Sequence[str]) -> None:
        """Keep every problem; the message lists them one a line."""
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Files for TLS to the broker: its CA, and this node's certificate and key."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """Where the broker is and who the node is there."""

    host: str
    port: int = DEFAULT_MQTT_PORT
    username: str | None = None
    password: str | None = None
    prefix: str = DEFAULT_PREFIX
    tls: TlsConfig | None = None


@dataclass(frozen=True, slots=True)
class SafeCommand:
    """One command of a fixed safe action: a command kind and its value."""

    command: CommandKind
    value: float | str


@dataclass(frozen=True, slots=True)
class CanConfig:
    """Where a CAN family's device is: python-can's interface, channel and bitrate."""

    interface: str
    channel: str
    # None: the family's own (500 kbit/s for the Pylontech protocol).
    bitrate: int | None = None
    # Send the inverter's keep-alive, for a BMS that waits for one.
    keepalive: bool = False


def reached_over_can(family: object) -> bool:
    """Return whether a family of the registry is reached over a CAN bus."""
    return getattr(family, "build_can", None) is not None


@dataclass(frozen=True, slots=True)
class ComponentConfig:
    """One device the node reads and commands."""

    id: str
    family: str
    endpoint: Endpoint | None
    unit: int
    interval: float = DEFAULT_INTERVAL_S
    register_map: str | None = None
    # A CAN family's bus, instead of an endpoint.
    can: CanConfig | None = None
    # None: release what the node wrote; else these commands, in order.
    safe_action: tuple[SafeCommand, ...] | None = None


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """The whole node: its name, its broker, its fail-safe and its components."""

    node: str
    mqtt: MqttConfig
    heartbeat_timeout: float
    components: tuple[ComponentConfig, ...]
    # Where the settings written are kept across restarts; None: nowhere.
    state_file: Path | None = None


class _Checker:
    """Collects the problems of one file, each under its key."""

    def __init__(self, base: Path) -> None:
        """Start with none; relative paths are relative to ``base``."""
        self.problems: list[str] = []
        self.base = base

    def fail(self, key: str, message: str) -> None:
        """Note a problem at a key."""
        self.problems.append(f"{key}: {message}")

    def mapping(self, value: object, key: str) -> Mapping[str, Any]:
        """Return a mapping, or note that it is not one and return {}."""
        if isinstance(value, Mapping):
            return value
        self.fail(key, f"must be a mapping of keys to values, not {value!r}")
        return {}

    def unknown(self, section: Mapping[str, Any], key: str, known: set[str]) -> None:
        """Note every key a section does not take: a typo must not pass silently."""
        for name in section:
            if name not in known:
                where = f"{key}.{name}" if key else str(name)
                self.fail(
                    where, f"unknown key; expected one of {', '.join(sorted(known))}"
                )

    def text(
        self, section: Mapping[str, Any], name: str, key: str, *, required: bool = False
    ) -> str | None:
        """Return a non-empty string, or None when absent."""
        value = section.get(name)
        if value is None:
            if required:
                self.fail(key, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.fail(key, f"must be text, not {value!r}")
            return None
        text = str(value).strip()
        if not text:
            self.fail(key, "must not be empty")
            return None
        return text

    def name(self, section: Mapping[str, Any], field_name: str, key: str) -> str:
        """Return a topic-safe name, or note why it is not one."""
        text = self.text(section, field_name, key, required=True)
        if text is None:
            return ""
        if not _NAME.fullmatch(text):
            self.fail(
                key,
                f"{text!r} must be 1-64 letters, digits, _ or -, starting with a"
                " letter or digit (it is an MQTT topic level)",
            )
        return text

    def number(  # noqa: PLR0917 - a key, its section and its bounds
        self,
        section: Mapping[str, Any],
        name: str,
        key: str,
        default: float,
        low: float,
        high: float,
    ) -> float:
        """Return a finite number within [low, high], else note it."""
        value = section.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"must be a number, not {value!r}")
            return default
        if not math.isfinite(value) or not low <= value <= high:
            self.fail(key, f"{value} is outside {low:g}-{high:g}")
            return default
        return float(value)

    def integer(  # noqa: PLR0917 - a key, its section and its bounds
        self,
        section: Mapping[str, Any],
        name: str,
        key: str,
        default: int,
        low: int,
        high: int,
    ) -> int:
        """Return a whole number within [low, high], else note it."""
        value = section.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be a whole number, not {value!r}")
            return default
        if not low <= value <= high:
            self.fail(key, f"{value} is outside {low}-{high}")
            return default
        return value

    def path(self, section: Mapping[str, Any], name: str, key: str) -> Path | None:
        """Return a readable file's path, or note that it is not one."""
        text = self.text(section, name, key)
        if text is None:
            return None
        path = Path(text).expanduser()
        if not path.is_absolute():
            path = self.base / path
        if not path.is_file():
            self.fail(key, f"{path} is not a readable file")
        return path


def _mqtt(check: _Checker, raw: object) -> MqttConfig:
    """Return the broker's section."""
    section = check.mapping(raw, "mqtt")
    check.unknown(
        section,
        "mqtt",
        {"host", "port", "username", "password", "prefix", "tls"},
    )
    host = check.text(section, "host", "mqtt.host", required=True) or ""
    port = check.integer(section, "port", "mqtt.port", DEFAULT_MQTT_PORT, 1, 65535)
    username = check.text(section, "username", "mqtt.username")
    password = check.text(section, "password", "mqtt.password")
    if password is not None and username is None:
        check.fail("mqtt.password", "is given without mqtt.username")
    prefix = check.text(section, "prefix", "mqtt.prefix") or DEFAULT_PREFIX
    if not _PREFIX.fullmatch(prefix):
        check.fail(
            "mqtt.prefix",
            f"{prefix!r} must be topic levels of letters, digits, _ or -,"
            " separated by /, with no wildcard",
        )
    tls = None
    if (raw_tls := section.get("tls")) is not None:
        tls_section = check.mapping(raw_tls, "mqtt.tls")
        check.unknown(tls_section, "mqtt.tls", {"ca", "cert", "key"})
        tls = TlsConfig(
            check.path(tls_section, "ca", "mqtt.tls.ca"),
            check.path(tls_section, "cert", "mqtt.tls.cert"),
            check.path(tls_section, "key", "mqtt.tls.key"),
        )
        if (tls.cert is None) != (tls.key is None):
            check.fail("mqtt.tls", "cert and key go together: give both or neither")
    return MqttConfig(host, port, username, password, prefix, tls)


_COMPONENT_KEYS = {
    "id",
    "family",
    "url",
    "unit",
    "baudrate",
    "interval",
    "register_map",
    *CAN_KEYS,
}


def _endpoint(
    check: _Checker, section: Mapping[str, Any], key: str, family_id: str
) -> Endpoint | None:
    """Return where a component is reached, from its url and baudrate."""
    family = FAMILIES.get(family_id)
    if family is not None and reached_over_can(family):
        for name in ("url", "unit", "baudrate"):
            if name in section:
                check.fail(
                    f"{key}.{name}", "a family on a CAN bus takes interface and channel"
                )
        return None
    url = check.text(section, "url", f"{key}.url")
    if url is None:
        if "url" not in section and family is not None:  # empty: already said so
            check.fail(f"{key}.url", "is required")
        return None
    default_baudrate = family.default_baudrate if family is not None else 9600
    baudrate = check.integer(
        section, "baudrate", f"{key}.baudrate", default_baudrate, 1, _MAX_BAUDRATE
    )
    try:
        return parse_endpoint(url, baudrate=baudrate)
    except ValueError as err:
        check.fail(f"{key}.url", str(err))
        return None


def _can(
    check: _Checker, section: Mapping[str, Any], key: str, family: object
) -> CanConfig | None:
    """Return a CAN family's bus; note CAN keys given to any other family."""
    if family is None:
        return None
    if not reached_over_can(family):
        for name in CAN_KEYS:
            if name in section:
                check.fail(f"{key}.{name}", "only a family on a CAN bus takes it")
        return None
    interface = check.text(section, "interface", f"{key}.interface", required=True)
    channel = check.text(section, "channel", f"{key}.channel", required=True)
    bitrate = None
    if "bitrate" in section:
        bitrate = check.integer(section, "bitrate", f"{key}.bitrate", 0, *_CAN_BITRATES)
    keepalive = section.get("keepalive", False)
    if not isinstance(keepalive, bool):
        check.fail(f"{key}.keepalive", f"must be true or false, not {keepalive!r}")
    if interface is None or channel is None:
        return None
    return CanConfig(interface, channel, bitrate, keepalive is True)


def _component(check: _Checker, raw: object, key: str) -> ComponentConfig | None:
    """Return one component, or None when it is unusable (its problems noted)."""
    section = check.mapping(raw, key)
    if not section:
        return None
    check.unknown(section, key, _COMPONENT_KEYS)
    component_id = check.name(section, "id", f"{key}.id")
    if component_id in RESERVED_IDS:
        check.fail(f"{key}.id", f"{component_id!r} is a topic the node itself uses")
    family_id = check.text(section, "family", f"{key}.family", required=True) or ""
    family = FAMILIES.get(family_id)
    if family_id and family is None:
        check.fail(
            f"{key}.family",
            f"unknown family {family_id!r}; known: {', '.join(sorted(FAMILIES))}",
        )
    endpoint = _endpoint(check, section, key, family_id)
    can = _can(check, section, key, family)
    unit = 1
    if family is not None and not reached_over_can(family):
        low, high = family.address_range
        unit = check.integer(
            section, "unit", f"{key}.unit", family.default_unit, low, high
        )
    interval = check.number(
        section,
        "interval",
        f"{key}.interval",
        DEFAULT_INTERVAL_S,
        MIN_INTERVAL_S,
        MAX_INTERVAL_S,
    )
    register_map = check.path(section, "register_map", f"{key}.register_map")
    if family is not None and family.needs_register_map and register_map is None:
        check.fail(f"{key}.register_map", f"{family.name} needs a register map (JSON)")
    return ComponentConfig(
        component_id,
        family_id,
        endpoint,
        unit,
        interval,
        str(register_map) if register_map is not None else None,
        can,
    )


def _safe_command(check: _Checker, raw: object, key: str) -> SafeCommand | None:
    """Return one command of a fixed safe action."""
    section = check.mapping(raw, key)
    check.unknown(section, key, {"command", "value"})
    name = check.text(section, "command", f"{key}.command", required=True)
    value = section.get("value")
    if name is None:
        return None
    try:
        kind = CommandKind(name)
    except ValueError:
        check.fail(
            f"{key}.command",
            f"unknown command {name!r}; known: {', '.join(sorted(CommandKind))}",
        )
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        check.fail(f"{key}.value", f"must be a number or an option, not {value!r}")
        return None
    return SafeCommand(kind, value if isinstance(value, str) else float(value))


def _safe_actions(
    check: _Checker, raw: object, ids: set[str]
) -> dict[str, tuple[SafeCommand, ...] | None]:
    """Return each component's fixed safe action, by component id."""
    section = check.mapping(raw, "failsafe.safe_actions")
    actions: dict[str, tuple[SafeCommand, ...] | None] = {}
    for component_id, action in section.items():
        key = f"failsafe.safe_actions.{component_id}"
        if component_id not in ids:
            check.fail(key, f"no component has the id {component_id!r}")
            continue
        if action == RELEASE:
            actions[component_id] = None
            continue
        if not isinstance(action, list) or not action:
            check.fail(key, f"must be {RELEASE!r} or a list of {{command, value}}")
            continue
        commands = [
            _safe_command(check, item, f"{key}[{index}]")
            for index, item in enumerate(action)
        ]
        actions[component_id] = tuple(c for c in commands if c is not None)
    return actions


def _state_file(check: _Checker, top: Mapping[str, Any], node: str) -> Path:
    """Return the state file's path: given, or the default for the node."""
    text = check.text(top, "state_file", "state_file")
    if text is None:
        return default_state_file(node, check.base)
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = check.base / path
    if path.is_dir():
        check.fail("state_file", f"{path} is a folder; name a file in it")
    elif not path.parent.is_dir():
        check.fail("state_file", f"the folder {path.parent} does not exist")
    return path


def parse_config(raw: object, base: Path) -> NodeConfig:
    """Return the node's configuration from parsed YAML; raise ConfigError."""
    check = _Checker(base)
    top = check.mapping(raw, "(top level)")
    check.unknown(top, "", {"node", "mqtt", "failsafe", "components", "state_file"})
    node = check.name(top, "node", "node")
    state_file = _state_file(check, top, node)
    if "mqtt" not in top:
        check.fail("mqtt", "is required")
    mqtt = _mqtt(check, top.get("mqtt", {}))
    failsafe = check.mapping(top.get("failsafe", {}), "failsafe")
    check.unknown(failsafe, "failsafe", {"heartbeat_timeout", "safe_actions"})
    timeout = check.number(
        failsafe,
        "heartbeat_timeout",
        "failsafe.heartbeat_timeout",
        DEFAULT_HEARTBEAT_TIMEOUT_S,
        1.0,
        86400.0,
    )
    raw_components = top.get("components")
    components: list[ComponentConfig] = []
    if not isinstance(raw_components, list) or not raw_components:
        check.fail("components", "must be a list of at least one component")
    else:
        seen: set[str] = set()
        for index, item in enumerate(raw_components):
            component = _component(check, item, f"components[{index}]")
            if component is None:
                continue
            if component.id in seen:
                check.fail(f"components[{index}].id", f"{component.id!r} is used twice")
            seen.add(component.id)
            components.append(component)
    actions = _safe_actions(
        check, failsafe.get("safe_actions", {}), {c.id for c in components}
    )
    if check.problems:
        raise ConfigError(check.problems)
    return NodeConfig(
        node,
        mqtt,
        timeout,
        tuple(
            ComponentConfig(
                c.id,
                c.family,
                c.endpoint,
                c.unit,
                c.interval,
                c.register_map,
                c.can,
                actions.get(c.id),
            )
            for c in components
        ),
        state_file,
    )


def load_config(path: Path) -> NodeConfig:
    """Read and check a node's YAML file; raise ConfigError naming each key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"cannot read {path}: {err.strerror or err}"]) from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError([f"{path} is not valid YAML: {err}"]) from err
    return parse_config(raw, path.parent)
