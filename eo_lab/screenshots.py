"""The README's screenshots, taken in a real browser from a real Home Assistant.

``python -m eo_lab.screenshots --out docs/images`` starts the simulated site
(``eo simulate``) and Home Assistant with this integration in a throw-away
configuration directory, onboards a user, and in headless Chromium (Debian's,
driven by Playwright) adds the grid meter, the serial devices and the three
controllers through their forms (the other Modbus TCP devices through the
config-flow HTTP API, as the frontend calls it), reads every device page,
and photographs:

- ``add-device.png``: the form that adds a device on the network;
- ``device-page.png``: the SDM630 grid meter's device page;
- ``battery-manager.png``, ``peak-shaving.png``, ``wallbox-manager.png``:
  each controller's device page;
- ``site.png``: the site device's page (who drives each output, the
  last decision, headroom);
- ``site-dashboard.png``: a dashboard made by the integration's strategy;
- ``plan-card.png``: its plan card, alone.

Peak shaving plans from the site's past, which a fresh Home Assistant has
none of: before peak shaving is added, the recorder is given the two days
the simulated site would have measured (the same profile and battery, run
from two days ago), as if Home Assistant had been watching it, and the live
simulator's battery starts where that past ends. The browser checks that
the forms work and refuse what cannot work, that every entity on a device
page has a name of its own, that the card draws the plan and that the
console shows no error; ``--report`` writes what it saw as JSON.

Everything it starts is stopped and its directory removed (``--keep`` keeps
the directory, with Home Assistant's and the simulator's logs). A failure
prints one line and exits with status 1.
"""

import argparse
from collections.abc import Callable, Iterator, Mapping, Sequence
import contextlib
from dataclasses import asdict, dataclass, field
import functools
import json
import os
from pathlib import Path
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from typing import Any, Self
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import (
    ConsoleMessage,
    Error as PlaywrightError,
    Page,
    ViewportSize,
    sync_playwright,
)

from eo_lab.sim.profiles import bundled_profile
from eo_lab.sim.simulated_site import default_battery
from eo_lab.sim.site import Site
from eo_lab.ui_flows import (
    ConfigFlowDialog,
    DevicePage,
    FlowError,
    load_strings,
    read_device_page,
)

CHROMIUM = Path("/usr/bin/chromium")
HOST = "127.0.0.1"
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
DOMAIN = "energy_orchestrator"
CUSTOM_COMPONENTS = Path(__file__).resolve().parents[1] / "custom_components"

# Seconds to wait: a first start of Home Assistant writes its whole storage.
START_TIMEOUT_S = 240.0
VALUES_TIMEOUT_S = 90.0
PAGE_VALUES_TIMEOUT_S = 30.0
PAGE_TIMEOUT_MS = 60_000

ADD_DEVICE = "add-device.png"
DEVICE_PAGE = "device-page.png"
BATTERY_MANAGER = "battery-manager.png"
PEAK_SHAVING = "peak-shaving.png"
WALLBOX_MANAGER = "wallbox-manager.png"
FLEXIBLE_LOADS = "flexible-loads.png"
SITE_DASHBOARD = "site-dashboard.png"
SITE = "site.png"
SITE_NAME = "Site"
# Pictures of the whole window; the card's is of the card alone.
SCREENSHOTS = (
    ADD_DEVICE,
    DEVICE_PAGE,
    BATTERY_MANAGER,
    PEAK_SHAVING,
    WALLBOX_MANAGER,
    SITE,
    FLEXIBLE_LOADS,
    SITE_DASHBOARD,
)
PLAN_CARD = "plan-card.png"

# The past the recorder is given before peak shaving starts, sampled as
# often as peak shaving reads its seed.
HISTORY_DAYS = 2
HISTORY_SAMPLE_S = 300.0
# The dashboard the strategy fills, and the card's element.
DASHBOARD_PATH = "energy-site"
DASHBOARD_VIEW = "site"
CARD_TAG = "energy-orchestrator-plan-card"
# What the card must draw from a plan: the planned grid power and SOC.
PLAN_SERIES = ("grid_planned", "soc_planned", "net_load_forecast")

# As scripts/develop: not default_config, which pulls in go2rtc, ffmpeg and
# Bluetooth. No http: either: Home Assistant takes that from YAML only as a
# trial it reverts in five minutes unless confirmed in the browser.
CONFIGURATION_YAML = """\
# Written by eo_lab.screenshots; removed when it ends.
# A country, or Settings carries a repair badge in every picture.
homeassistant:
  name: Home
  country: DE
  currency: EUR
  unit_system: metric
  time_zone: UTC

frontend:
config:
energy:
history:
logbook:
system_health:

# The flexible loads' switches: helpers standing in for a water heater's
# and a pool pump's.
input_boolean:
  water_heater:
    name: Water heater switch
  pool_pump:
    name: Pool pump switch

logger:
  default: warning
  logs:
    custom_components.energy_orchestrator: info
"""

# What the simulator's device list says, and the family that reads it.
FAMILY_BY_DESCRIPTION = (
    ("Eastron SDM630", "sdm630"),
    ("SunSpec", "sunspec"),
    ("Eastron SDM120", "sdm120"),
    ("Eastron SDM72", "sdm72"),
    ("Victron GX", "victron_gx"),
    ("Alfen", "alfen"),
)
_SERVED_LINE = re.compile(
    r"^\s*tcp://(?P<host>[^:]+):(?P<port>\d+) unit (?P<unit>\d+): (?P<what>.+)$"
)
# The families the simulator serves as ser2net would, over socket://.
SERIAL_FAMILY_BY_DESCRIPTION = (
    ("Voltronic PI30", "voltronic_pi30"),
    # "Pylontech stack": the CAN battery speaks "Pylontech protocol" too.
    ("Pylontech stack", "pylontech"),
    ("JK BMS", "jk_pb"),
    ("Daly", "daly"),
)
_SERIAL_LINE = re.compile(r"^\s*(?P<url>socket://\S+) unit \d+: (?P<what>.+)$")

# The entities the simulated devices get in a fresh Home Assistant; the
# controllers are wired to them as an installer would wire a real site.
GRID_POWER = "sensor.eastron_sdm630_grid_power"
GRID_POWER_PHASES = tuple(f"{GRID_POWER}_l{phase}" for phase in (1, 2, 3))
GX = "victron_energy_gx_device"
GX_BATTERY = f"{GX}_battery_monitor"  # the GX's battery monitor, a sub-device
ALFEN = "alfen_eve_ng910"

BATTERY_MANAGER_FORM: dict[str, Any] = {
    "name": "House battery",
    "chemistry": "lfp",
    "cells_in_series": 16,
    "capacity_ah": 200,
    "voltage_entity": f"sensor.{GX_BATTERY}_voltage",
    "current_entity": f"sensor.{GX_BATTERY}_current",
    "temperature_entity": f"sensor.{GX_BATTERY}_temperature",
    "bms_soc_entity": f"sensor.{GX_BATTERY}_state_of_charge",
    "outputs": {},
}
PEAK_SHAVING_FORM: dict[str, Any] = {
    "name": "Peak shaving",
    "grid_power_entity": GRID_POWER,
    **{
        f"grid_power_l{phase}_entity": entity
        for phase, entity in enumerate(GRID_POWER_PHASES, start=1)
    },
    "pv_power_entity": f"sensor.{GX}_pv_power",
    "battery_power_entity": f"sensor.{GX}_battery_power",
    "battery_soc_entity": f"sensor.{GX}_battery_state_of_charge",
    "battery_voltage_entity": f"sensor.{GX}_battery_voltage",
    # The GX's one signed power number, for the pictures: the simulator
    # takes it as the grid setpoint it is, not as a battery power.
    "battery_setpoint_entity": f"number.{GX}_grid_setpoint",
    "invert_setpoint": False,
    "battery_capacity_kwh": 10,
    "battery_max_kw": 5,
    "battery_soc_min": 10,
    "battery_soc_max": 100,
    # No limit of the contract: the limit is planned, from the history the
    # recorder is given first (Lab.seed_history).
    "battery_voltage_min_v": 46,
    "battery_voltage_max_v": 57.6,
    "billing_interval_minutes": "15",
    "billing_period": "month",
    "phase_limit_w": 5750,
    "battery_phases": "three",
}
WALLBOX_MANAGER_FORM: dict[str, Any] = {
    "name": "Wallbox",
    "grid_power_entity": GRID_POWER,
    "ev_power_entity": f"sensor.{ALFEN}_charging_power",
    "charger_current_entity": f"number.{ALFEN}_charging_current_limit",
    "charger_enable_entity": f"switch.{ALFEN}_charging",
    "charger_phases_entity": f"number.{ALFEN}_phases_to_charge_on",
    "battery_power_entity": f"sensor.{GX}_battery_power",
    "battery_soc_entity": f"sensor.{GX}_battery_state_of_charge",
}
FLEXIBLE_LOADS_FORM: dict[str, Any] = {
    "name": "Flexible loads",
    "grid_power_entity": GRID_POWER,
    "import_price": 0.25,
    "export_price": 0.05,
    "netting_minutes": "60",
    "safe_state": "off",
}
# The flexible loads' loads, added to it as subentries.
FLEXIBLE_LOADS_LOADS: tuple[dict[str, Any], ...] = (
    {
        "name": "Water heater",
        "load_entity": "input_boolean.water_heater",
        "power_w": 2000,
        "energy_kwh_per_day": 4,
        "window_start": "00:00:00",
        "window_end": "00:00:00",
        "min_on_minutes": 10,
        "min_off_minutes": 10,
        "priority": 1,
        "interruptible": True,
    },
    {
        "name": "Pool pump",
        "load_entity": "input_boolean.pool_pump",
        "power_w": 1000,
        "energy_kwh_per_day": 2,
        "window_start": "10:00:00",
        "window_end": "18:00:00",
        "min_on_minutes": 15,
        "min_off_minutes": 15,
        "priority": 0,
        "interruptible": True,
    },
)
SOC_ENTITY = PEAK_SHAVING_FORM["battery_soc_entity"]
# The wallbox manager starts off; fast charging shows it at work at any hour.
WALLBOX_MODE = ("select.wallbox_charging_mode", "fast")
CONTROLLERS = (
    ("battery_manager", BATTERY_MANAGER_FORM, BATTERY_MANAGER),
    ("peak_shaving", PEAK_SHAVING_FORM, PEAK_SHAVING),
    ("wallbox_manager", WALLBOX_MANAGER_FORM, WALLBOX_MANAGER),
    ("flexible_loads", FLEXIBLE_LOADS_FORM, FLEXIBLE_LOADS),
)

# The config flow's steps (config_flow.py) and what the forms show.
CONNECTION_TCP = "tcp"
CONNECTION_SERIAL = "serial"
TCP_FORM = "tcp_connection"
SERIAL_FORM = "serial_connection"
SDM630_FORM_TITLE = "Eastron SDM630 (three-phase meter) on the network"
MORE_OPTIONS = "More options"
# A number that only caps the inverter's charge power: peak shaving refuses it.
CAPPING_NUMBER = (
    "number.energy_orchestrator_simulated_hybrid_inverter_maximum_charge_power"
)
SETPOINT_REFUSAL = "setpoint_one_sign"
# The form is photographed, not sent: an address as on a user's network.
EXAMPLE_HOST = "192.168.1.50"

# Every entity of the integration: id, config entry, device, the device's parent.
_ENTITIES_TEMPLATE = (
    "{% set ns = namespace(rows=[]) %}"
    "{% for e in integration_entities('" + DOMAIN + "') %}"
    "{% set ns.rows = ns.rows + [[e, config_entry_id(e), device_id(e),"
    " device_attr(device_id(e), 'via_device_id')]] %}"
    "{% endfor %}{{ ns.rows | tojson }}"
)
# Every device of the integration's entities: its name, as its page shows it.
_DEVICE_NAMES_TEMPLATE = (
    "{% set ns = namespace(names={}) %}"
    "{% for e in integration_entities('" + DOMAIN + "') %}"
    "{% set d = device_id(e) %}"
    "{% if d %}{% set ns.names = dict(ns.names, **{d: device_attr(d, 'name_by_user')"
    " or device_attr(d, 'name')}) %}{% endif %}"
    "{% endfor %}{{ ns.names | tojson }}"
)
_NO_VALUE = ("unavailable", "unknown")
# Entities whose state is "unknown" until used: a button until pressed.
_STATELESS = ("button.",)


class StepError(Exception):
    """A step failed; the message is the one line the user sees."""


class WaitTimeoutError(StepError):
    """What was waited for did not come in time."""


@dataclass(frozen=True, slots=True)
class ServedDevice:
    """A Modbus TCP device the simulated site serves."""

    host: str
    port: int
    unit: int
    family: str


@dataclass(frozen=True, slots=True)
class Fleet:
    """What the simulator serves: Modbus TCP devices, serial peers by family."""

    tcp: list[ServedDevice]
    serial: dict[str, str]


def _family(description: str, families: Sequence[tuple[str, str]]) -> str | None:
    """Return the family a line of the simulator's device list describes."""
    return next((f for text, f in families if text in description), None)


@dataclass(frozen=True, slots=True)
class EntityRow:
    """An entity of the integration and where it belongs."""

    entity_id: str
    entry_id: str
    device_id: str
    parent_device_id: str | None


def _say(message: str) -> None:
    """Print progress, so a long run shows where it is."""
    print(f"screenshots: {message}", flush=True)


def _free_port() -> int:
    """Return a TCP port free on HOST right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _wait(
    what: str, check: Callable[[], bool], timeout_s: float, every_s: float = 0.5
) -> None:
    """Call ``check`` until it is true; raise WaitTimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise WaitTimeoutError(f"{what} (waited {timeout_s:.0f} s)")
        time.sleep(every_s)


class Service:
    """A program run in the background, its output in a log file."""

    def __init__(self, name: str, command: Sequence[str], log: Path) -> None:
        """Start the program; ``stop`` ends it."""
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self._process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,
            )

    def output(self) -> str:
        """Return what the program printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def check_running(self) -> None:
        """Raise StepError when the program has ended."""
        if (status := self._process.poll()) is not None:
            lines = self.output().strip().splitlines()
            last = lines[-1] if lines else "no output"
            raise StepError(f"{self.name} exited with status {status}: {last}")

    def stop(self) -> None:
        """End the program: SIGTERM, then SIGKILL if it lingers."""
        if self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class HomeAssistantApi:
    """Home Assistant's HTTP API, as the frontend calls it."""

    def __init__(self, base_url: str) -> None:
        """Talk to Home Assistant at ``base_url``; ``token`` is set on login."""
        self.base_url = base_url
        self.token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        form: Mapping[str, str] | None = None,
    ) -> Any:
        """Send a request; return the decoded JSON answer."""
        headers = {}
        data = None
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace").strip()
            raise StepError(f"{method} {path}: HTTP {err.code} {detail}") from err

    def answers(self) -> bool:
        """Return whether Home Assistant's HTTP server answers yet."""
        try:
            self.request("GET", "/api/onboarding")
        except OSError, StepError:
            return False
        return True

    def states(self) -> dict[str, str]:
        """Return every entity's state by entity id."""
        return {s["entity_id"]: s["state"] for s in self.request("GET", "/api/states")}

    def template(self, template: str) -> str:
        """Render a template in Home Assistant."""
        request = urllib.request.Request(
            self.base_url + "/api/template",
            data=json.dumps({"template": template}).encode(),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            text: str = answer.read().decode()
            return text


class Lab:
    """The simulated site and Home Assistant beside it, in a temporary directory."""

    def __init__(self, keep: bool) -> None:
        """Prepare; ``with`` starts nothing, ``start`` does."""
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="eo-screenshots-"))
        self.config = self.root / "config"
        self.port = _free_port()
        self.api = HomeAssistantApi(f"http://{HOST}:{self.port}")
        self.tokens: dict[str, Any] = {}
        self._services: list[Service] = []
        self.hass: Service | None = None

    def __enter__(self) -> Self:
        """Return the lab; its services start with ``start``."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop every service; remove the directory unless kept."""
        for service in reversed(self._services):
            service.stop()
        if self.keep:
            _say(f"kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def start_simulator(self, initial_soc: float) -> Fleet:
        """Run ``eo simulate`` on free ports; return the devices it serves.

        The house battery starts at ``initial_soc`` (%): where the past the
        recorder is given ends, so the card's measured SOC runs on at now.
        """
        simulator = Service(
            "eo simulate",
            [
                *(sys.executable, "-m", "eo_lab", "simulate"),
                *("--host", HOST, "--port", "0"),
                *("--initial-soc", f"{initial_soc:.2f}"),
            ],
            self.root / "simulator.log",
        )
        self._services.append(simulator)

        def listed() -> bool:
            simulator.check_running()
            # The first status line follows the whole device list.
            return " UTC  load " in simulator.output()

        _wait("the simulator did not list its devices", listed, 60)
        fleet = Fleet([], {})
        for line in simulator.output().splitlines():
            if match := _SERVED_LINE.match(line):
                family = _family(match["what"], FAMILY_BY_DESCRIPTION)
                if family is not None:
                    fleet.tcp.append(
                        ServedDevice(
                            match["host"],
                            int(match["port"]),
                            int(match["unit"]),
                            family,
                        )
                    )
            elif match := _SERIAL_LINE.match(line):
                family = _family(match["what"], SERIAL_FAMILY_BY_DESCRIPTION)
                if family is not None:
                    fleet.serial[family] = match["url"]
        missing = {f for _, f in FAMILY_BY_DESCRIPTION} - {d.family for d in fleet.tcp}
        missing |= {f for _, f in SERIAL_FAMILY_BY_DESCRIPTION} - set(fleet.serial)
        if missing:
            raise StepError(f"the simulator serves no {', '.join(sorted(missing))}")
        return fleet

    def start_home_assistant(self) -> None:
        """Write the configuration, start Home Assistant, wait for its API."""
        if not CUSTOM_COMPONENTS.is_dir():
            raise StepError(
                f"no integration at {CUSTOM_COMPONENTS} (run from a checkout)"
            )
        self.config.mkdir()
        (self.config / "configuration.yaml").write_text(
            CONFIGURATION_YAML, encoding="utf-8"
        )
        (self.config / "custom_components").symlink_to(CUSTOM_COMPONENTS)
        storage = self.config / ".storage"
        storage.mkdir()
        # The HTTP settings as Home Assistant stored them before they moved
        # out of YAML: it takes them as confirmed, with no trial to revert.
        (storage / "http").write_text(
            json.dumps(
                {
                    "version": 1,
                    "minor_version": 1,
                    "key": "http",
                    "data": {"server_host": [HOST], "server_port": self.port},
                }
            ),
            encoding="utf-8",
        )
        hass = self.hass = Service(
            "Home Assistant",
            [sys.executable, "-m", "homeassistant", "--config", str(self.config)],
            self.root / "home-assistant.log",
        )
        self._services.append(hass)

        def answers() -> bool:
            hass.check_running()
            return self.api.answers()

        _wait(
            f"Home Assistant did not answer on port {self.port}",
            answers,
            START_TIMEOUT_S,
        )

    def onboard(self) -> None:
        """Create the user, log in, finish onboarding; wait until HA runs."""
        client_id = f"{self.api.base_url}/"
        created = self.api.request(
            "POST",
            "/api/onboarding/users",
            {
                "name": "Demo",
                "username": "demo",
                "password": secrets.token_urlsafe(16),
                "client_id": client_id,
                "language": "en",
            },
        )
        tokens = self.api.request(
            "POST",
            "/auth/token",
            form={
                "grant_type": "authorization_code",
                "code": created["auth_code"],
                "client_id": client_id,
            },
        )
        self.api.token = tokens["access_token"]
        self.api.request("POST", "/api/onboarding/core_config", {})
        self.api.request("POST", "/api/onboarding/analytics", {})
        self.api.request(
            "POST",
            "/api/onboarding/integration",
            {"client_id": client_id, "redirect_uri": f"{client_id}?auth_callback=1"},
        )
        # What the frontend keeps in localStorage once a user has logged in.
        self.tokens = {
            "access_token": tokens["access_token"],
            "token_type": tokens["token_type"],
            "expires_in": tokens["expires_in"],
            "refresh_token": tokens["refresh_token"],
            "hassUrl": self.api.base_url,
            "clientId": client_id,
            "expires": int(time.time() * 1000) + tokens["expires_in"] * 1000,
        }
        _wait(
            "Home Assistant did not finish starting",
            lambda: self.api.request("GET", "/api/config")["state"] == "RUNNING",
            START_TIMEOUT_S,
        )

    def add(
        self, step: str, form: Mapping[str, Any], *, family: str | None = None
    ) -> str:
        """Run the config flow through ``step`` with ``form``; return the entry id.

        A device's ``family`` is chosen in a form of its own, before ``form``.
        """
        flow = self.api.request(
            "POST", "/api/config/config_entries/flow", {"handler": DOMAIN}
        )
        path = f"/api/config/config_entries/flow/{flow['flow_id']}"
        self.api.request("POST", path, {"next_step_id": step})
        if family is not None:
            self.api.request("POST", path, {"family": family})
        result = self.api.request("POST", path, form)
        if result.get("type") != "create_entry":
            reason = result.get("errors") or result.get("reason") or result.get("type")
            raise StepError(f"adding {step} {form.get('name', '')} failed: {reason}")
        entry_id: str = result["result"]["entry_id"]
        return entry_id

    def add_subentry(self, entry_id: str, kind: str, form: Mapping[str, Any]) -> None:
        """Add a subentry of ``kind`` (a load) to an entry through its flow."""
        flow = self.api.request(
            "POST",
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry_id, kind]},
        )
        result = self.api.request(
            "POST",
            f"/api/config/config_entries/subentries/flow/{flow['flow_id']}",
            form,
        )
        if result.get("type") != "create_entry":
            reason = result.get("errors") or result.get("reason") or result.get("type")
            raise StepError(
                f"adding the {kind} {form.get('name', '')} failed: {reason}"
            )

    def has_entity(self, entity_id: str) -> bool:
        """Return whether Home Assistant has a state for ``entity_id``."""
        return entity_id in self.api.states()

    def entities(self) -> list[EntityRow]:
        """Return every entity of the integration and where it belongs."""
        return [
            EntityRow(*row) for row in json.loads(self.api.template(_ENTITIES_TEMPLATE))
        ]

    def device_of(self, entry_id: str) -> str:
        """Return the main device of a config entry (the one without a parent)."""
        devices = {
            row.device_id
            for row in self.entities()
            if row.entry_id == entry_id and row.parent_device_id is None
        }
        if len(devices) != 1:
            raise StepError(f"entry {entry_id} has {len(devices)} main devices, not 1")
        return devices.pop()

    def wait_for_values(
        self, entity_ids: Sequence[str], what: str, *, required: bool
    ) -> None:
        """Wait until the entities have values.

        An entity that does not exist is a failure: the wiring above no
        longer matches the entities the integration makes. One without a
        value after the wait is a failure when ``required``, else said and
        photographed as it is: a plan needs history a fresh Home Assistant
        lacks, a deadline is unset until someone sets one.
        """
        missing: list[str] = []

        def have_values() -> bool:
            states = self.api.states()
            if absent := [e for e in entity_ids if e not in states]:
                raise StepError(f"{what}: no entity {', '.join(absent)}")
            missing[:] = [
                f"{e} ({states[e]})"
                for e in entity_ids
                if states[e] in _NO_VALUE and not e.startswith(_STATELESS)
            ]
            return not missing

        timeout = VALUES_TIMEOUT_S if required else PAGE_VALUES_TIMEOUT_S
        try:
            _wait(f"{what} have no value", have_values, timeout, every_s=2)
        except WaitTimeoutError:
            if required:
                raise StepError(f"{what} have no value: {', '.join(missing)}") from None
            _say(f"note: {what}: without a value: {', '.join(missing)}")

    def seed_history(self, history: Mapping[str, Sequence[tuple[float, float]]]) -> int:
        """Give the recorder a past for these entities; return the rows written.

        Home Assistant's recorder must know the entities first (it writes
        them within seconds of their first state); each row takes the
        attributes (the unit) of the entity's latest recorded state.
        """
        database = self.config / "home-assistant_v2.db"
        known: dict[str, int] = {}

        def recorded() -> bool:
            with contextlib.closing(sqlite3.connect(database, timeout=30)) as db:
                rows = db.execute(
                    "SELECT entity_id, metadata_id FROM states_meta WHERE entity_id IN"
                    f" ({', '.join('?' * len(history))})",
                    list(history),
                ).fetchall()
            known.update(rows)
            return len(known) == len(history)

        _wait("the recorder did not record the inputs", recorded, 60, every_s=1)
        written = 0
        with contextlib.closing(sqlite3.connect(database, timeout=30)) as db, db:
            for entity, samples in history.items():
                metadata_id = known[entity]
                latest = db.execute(
                    "SELECT attributes_id FROM states WHERE metadata_id = ?"
                    " ORDER BY last_updated_ts DESC LIMIT 1",
                    (metadata_id,),
                ).fetchone()
                db.executemany(
                    "INSERT INTO states (state, last_updated_ts, metadata_id,"
                    " attributes_id, origin_idx) VALUES (?, ?, ?, ?, 0)",
                    [
                        (f"{value:.1f}", moment, metadata_id, latest and latest[0])
                        for moment, value in samples
                    ],
                )
                written += len(samples)
        return written

    def plan_rows(self, entry_id: str) -> int:
        """Return how many rows the plan of a peak-shaving entry has."""
        entities = {
            row.entity_id for row in self.entities() if row.entry_id == entry_id
        }
        for state in self.api.request("GET", "/api/states"):
            plan = state["attributes"].get("plan")
            if state["entity_id"] in entities and isinstance(plan, list):
                return len(plan)
        return 0

    def energy_sources(self, entries: Mapping[str, str]) -> list[dict[str, Any]]:
        """Return the Energy dashboard's sources: the meter, the GX's PV, the battery."""
        rows = self.entities()

        def ending(family: str, suffix: str) -> str | None:
            return next(
                (
                    row.entity_id
                    for row in rows
                    if row.entry_id == entries.get(family)
                    and row.entity_id.endswith(suffix)
                ),
                None,
            )

        sources: list[dict[str, Any]] = []
        imported = ending("sdm630", "_grid_import_energy")
        exported = ending("sdm630", "_grid_export_energy")
        if imported and exported:
            sources.append(
                {
                    "type": "grid",
                    "stat_energy_from": imported,
                    "stat_energy_to": exported,
                    "stat_cost": None,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                    "stat_compensation": None,
                    "entity_energy_price_export": None,
                    "number_energy_price_export": None,
                    "cost_adjustment_day": 0,
                }
            )
        if solar := ending("victron_gx", "_solar_charger_1_energy"):
            sources.append(
                {
                    "type": "solar",
                    "stat_energy_from": solar,
                    "config_entry_solar_forecast": None,
                }
            )
        # The battery manager's counted energy: the battery on the dashboard.
        charged = ending("battery_manager", "_charge_energy")
        discharged = ending("battery_manager", "_discharge_energy")
        if charged and discharged:
            sources.append(
                {
                    "type": "battery",
                    "stat_energy_from": discharged,
                    "stat_energy_to": charged,
                }
            )
        return sources

    def remove_onboarding_entries(self) -> None:
        """Remove what onboarding added (weather, radio, TTS): they reach the internet."""
        for entry in self.api.request("GET", "/api/config/config_entries/entry"):
            if entry["source"] == "onboarding":
                self.api.request(
                    "DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}"
                )

    def set_option(self, entity_id: str, option: str) -> None:
        """Choose an option of a select entity, as a user does on its page."""
        self.api.request(
            "POST",
            "/api/services/select/select_option",
            {"entity_id": entity_id, "option": option},
        )

    def entry_ids(self) -> set[str]:
        """Return the ids of this integration's config entries."""
        return {
            entry["entry_id"]
            for entry in self.api.request("GET", "/api/config/config_entries/entry")
            if entry["domain"] == DOMAIN
        }

    def new_entry(self, before: set[str]) -> str:
        """Return the one entry of this integration made since ``before``."""
        made = self.entry_ids() - before
        if len(made) != 1:
            raise StepError(f"{len(made)} entries were made, not 1")
        return made.pop()

    def device_names(self) -> dict[str, str]:
        """Return every device of the integration's entities by id: its name."""
        names: dict[str, str] = json.loads(self.api.template(_DEVICE_NAMES_TEMPLATE))
        return names

    def device_entities(self, device_id: str) -> list[str]:
        """Return the enabled entities of a device."""
        states = self.api.states()
        return [
            row.entity_id
            for row in self.entities()
            if row.device_id == device_id and row.entity_id in states
        ]


def site_history(end: float) -> dict[str, list[tuple[float, float]]]:
    """Return what peak shaving's inputs measured over the days before ``end``.

    The simulated site, with the profile and battery ``eo simulate`` runs,
    started ``HISTORY_DAYS`` before ``end`` and sampled every
    ``HISTORY_SAMPLE_S``: what Home Assistant would have recorded had it
    watched the site then. By entity id, as (epoch, value).
    """
    start = end - HISTORY_DAYS * 86400
    site = Site(bundled_profile(), default_battery(), start_time=start, max_step_s=10)
    form = PEAK_SHAVING_FORM
    history: dict[str, list[tuple[float, float]]] = {
        form[key]: []
        for key in (
            "grid_power_entity",
            "pv_power_entity",
            "battery_power_entity",
            "battery_soc_entity",
        )
    }
    moment = start + HISTORY_SAMPLE_S
    while moment < end:
        site.advance_to(moment)
        for key, value in (
            ("grid_power_entity", site.grid_power_w),
            ("pv_power_entity", site.pv_w),
            ("battery_power_entity", site.battery_power_w),
            ("battery_soc_entity", 100 * site.battery.soc),
        ):
            history[form[key]].append((moment, value))
        moment += HISTORY_SAMPLE_S
    return history


def _form_inputs(form: Mapping[str, Any]) -> list[str]:
    """Return the entity ids a controller's form names."""
    inputs: list[str] = []
    for key, value in form.items():
        if isinstance(value, Mapping):
            inputs += _form_inputs(value)
        elif key.endswith("_entity"):
            inputs.append(value)
    return inputs


@contextlib.contextmanager
def _browser(lab: Lab) -> Iterator[Page]:
    """Yield a page of headless Chromium, logged in to Home Assistant."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            context = browser.new_context(
                viewport=VIEWPORT, locale="en-US", device_scale_factor=1
            )
            stored = json.dumps(json.dumps(lab.tokens))
            context.add_init_script(
                script=f"window.localStorage.setItem('hassTokens', {stored});"
            )
            page = context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            try:
                yield page
            except PlaywrightError, StepError, FlowError:
                if lab.keep:
                    page.screenshot(path=lab.root / "failure.png")
                raise
        finally:
            browser.close()


def _open(page: Page, lab: Lab, path: str) -> None:
    """Open a page of the frontend; refuse a login page."""
    page.goto(lab.api.base_url + path)
    page.wait_for_load_state("load")
    if "/auth/authorize" in page.url:
        raise StepError(f"the browser was sent to the login page for {path}")


def _settle(page: Page) -> None:
    """Give the frontend a moment to draw icons, values and cards."""
    page.wait_for_timeout(2500)


def _shoot_device(page: Page, lab: Lab, device_id: str, name: str, path: Path) -> None:
    """Photograph a device's page."""
    _open(page, lab, f"/config/devices/device/{device_id}")
    page.get_by_text(name).first.wait_for()
    _settle(page)
    page.screenshot(path=path)


@dataclass(slots=True)
class CardReport:
    """What the browser saw: the plan card, the console, the device pages."""

    series: list[str]
    notices: list[str]
    console_errors: list[str]
    energy_sources: int
    # Every device page's entity names, by device name.
    device_pages: dict[str, list[str]] = field(default_factory=dict)
    # The errors the forms showed for what cannot work.
    refusals: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Return what is wrong: a plan not drawn, an error in the console, a nameless entity."""
        found = device_page_problems(self.device_pages)
        found += [
            f"the card does not draw {name}"
            for name in PLAN_SERIES
            if name not in self.series
        ]
        found += [f"the card says: {notice}" for notice in self.notices]
        found += [f"console: {error}" for error in self.console_errors]
        return found


_HASS = "document.querySelector('home-assistant').hass"


def _make_site_dashboard(
    page: Page, lab: Lab, sources: Sequence[Mapping[str, Any]]
) -> int:
    """Set the Energy dashboard's sources, make the strategy's dashboard; return the sources kept.

    As the frontend does it, over its own websocket connection.
    """
    _open(page, lab, "/config/dashboard")
    page.wait_for_function(f"() => {_HASS}?.connection")
    kept: int = page.evaluate(
        """async ([sources]) => {
          const hass = document.querySelector('home-assistant').hass;
          try {
            await hass.callWS({type: 'energy/save_prefs', energy_sources: sources,
                               device_consumption: []});
            return sources.length;
          } catch (err) {
            return 0;
          }
        }""",
        [list(sources)],
    )
    page.evaluate(
        """async ([path]) => {
          const hass = document.querySelector('home-assistant').hass;
          await hass.callWS({type: 'lovelace/dashboards/create', url_path: path,
                             title: 'Site', icon: 'mdi:home-lightning-bolt',
                             show_in_sidebar: true, require_admin: false});
          await hass.callWS({type: 'lovelace/config/save', url_path: path,
                             config: {strategy: {type: 'custom:energy-orchestrator'}}});
        }""",
        [DASHBOARD_PATH],
    )
    return kept


def _shoot_site_dashboard(
    page: Page, lab: Lab, out: Path, energy_sources: int
) -> CardReport:
    """Open the dashboard, wait for the plan card to draw, photograph both."""
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        _open(page, lab, f"/{DASHBOARD_PATH}/{DASHBOARD_VIEW}")
        card = page.locator(CARD_TAG)
        card.locator("svg.plan").wait_for()
        # The measured past comes a moment later, from the recorder.
        card.locator("[data-series=grid_measured]").wait_for()
        _settle(page)
        series = card.locator("[data-series]").evaluate_all(
            "elements => elements.map(e => e.dataset.series)"
        )
        notices = card.locator(".notice").all_inner_texts()
        page.screenshot(path=out / SITE_DASHBOARD)
        card.screenshot(path=out / PLAN_CARD)
    finally:
        page.remove_listener("console", console)
    return CardReport(series, notices, errors, energy_sources)


def log_complaints(log: str) -> list[str]:
    """Return the log lines a user must not see from this integration.

    A blocking call in the event loop, or an error or warning logged by
    the integration itself; Home Assistant's own complaints about what
    this machine lacks (ffmpeg, libturbojpeg) are not ours.
    """
    lines = log.splitlines()
    blocking = [
        line
        for line in lines
        if "Detected blocking call" in line and "energy_orchestrator" in line
    ]
    logged = [
        line
        for line in lines
        if "[custom_components.energy_orchestrator" in line
        and (" ERROR " in line or " WARNING " in line)
    ]
    return [line.strip() for line in (*blocking, *logged)]


def _add_meter_in_browser(
    dialog: ConfigFlowDialog, lab: Lab, meter: ServedDevice, path: Path
) -> str:
    """Photograph the network form with an example address, then add the meter.

    The picture shows an address as on a user's network; the form is then
    sent with the simulator's, and the entry made is returned.
    """
    before = lab.entry_ids()
    with _in_browser(f"adding the {meter.family} over the network"):
        dialog.open(CONNECTION_TCP)
        dialog.choose_family(CONNECTION_TCP, meter.family)
        page = dialog.page
        page.get_by_text(SDM630_FORM_TITLE).wait_for()
        dialog.fill(TCP_FORM, {"host": EXAMPLE_HOST})
        page.get_by_text(MORE_OPTIONS).click()
        _settle(page)
        page.screenshot(path=path)
        dialog.fill(TCP_FORM, {"host": meter.host, "port": meter.port})
        dialog.submit()
        dialog.finish()
    return lab.new_entry(before)


def _add_serial_devices_in_browser(
    dialog: ConfigFlowDialog, lab: Lab, urls: Mapping[str, str]
) -> dict[str, str]:
    """Add each serial peer through the serial form; return the entries by family."""
    entries = {}
    for family, url in urls.items():
        before = lab.entry_ids()
        with _in_browser(f"adding the {family} over {url}"):
            dialog.open(CONNECTION_SERIAL)
            dialog.choose_family(CONNECTION_SERIAL, family)
            dialog.fill(SERIAL_FORM, {"device": url})
            dialog.submit()
            dialog.finish()
        entries[family] = lab.new_entry(before)
    return entries


def _offer_a_capping_number(
    dialog: ConfigFlowDialog, step: str, form: Mapping[str, Any]
) -> None:
    """Send the form with a charge-power cap as setpoint; see it refused; fix it."""
    dialog.fill(step, {**form, "battery_setpoint_entity": CAPPING_NUMBER})
    dialog.submit()
    dialog.error(SETPOINT_REFUSAL).wait_for()
    label = dialog.strings["config"]["step"][step]["data"]["battery_setpoint_entity"]
    dialog.pick_entity(label, form["battery_setpoint_entity"])


@contextlib.contextmanager
def _in_browser(what: str) -> Iterator[None]:
    """Say what was being done when the browser fails."""
    try:
        yield
    except (PlaywrightError, FlowError) as err:
        raise StepError(f"{what}: {_first_line(err)}") from err


def _first_line(err: Exception) -> str:
    """Return an error's first line, or its type when it says nothing."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _add_controllers_in_browser(
    dialog: ConfigFlowDialog, lab: Lab
) -> tuple[dict[str, str], list[str]]:
    """Add the three controllers through their forms; return entries and refusals.

    Peak shaving is first offered the inverter's maximum charge power as
    its setpoint, as the user of issue 20 did: its form must refuse it.
    """
    entries: dict[str, str] = {}
    refusals: list[str] = []
    for step, form, _ in CONTROLLERS:
        before = lab.entry_ids()
        with _in_browser(f"adding the {step}"):
            dialog.open(step)
            if step == "peak_shaving":
                _offer_a_capping_number(dialog, step, form)
                refusals.append(SETPOINT_REFUSAL)
            else:
                dialog.fill(step, form)
            dialog.submit()
            dialog.finish()
        entries[step] = lab.new_entry(before)
    return entries, refusals


def _add_site_in_browser(dialog: ConfigFlowDialog, lab: Lab) -> str:
    """Add the site device through its form; return its entry."""
    before = lab.entry_ids()
    with _in_browser("adding the site"):
        dialog.open("site")
        dialog.fill("site", {"name": SITE_NAME})
        dialog.submit()
        dialog.finish()
    return lab.new_entry(before)


def _read_device_pages(page: Page, lab: Lab) -> dict[str, list[str]]:
    """Open every device's page; return its entities' names by device name."""
    return {
        name: read_device_page(page, lab.api.base_url, device_id, name).entities
        for device_id, name in sorted(lab.device_names().items(), key=lambda i: i[1])
    }


def device_page_problems(pages: Mapping[str, Sequence[str]]) -> list[str]:
    """Return what a user would find wrong on the device pages read."""
    return [
        problem
        for name, entities in pages.items()
        for problem in DevicePage(name, list(entities)).problems()
    ]


def take_screenshots(
    out: Path, *, keep: bool = False, report: Path | None = None
) -> list[Path]:
    """Run the whole lab and save the screenshots into ``out``; return them.

    Raises StepError when a form does not work in the browser, a device
    page shows an entity without a name, the plan card does not draw the
    plan or the browser's console shows an error; ``report`` receives what
    the browser saw.
    """
    if not CHROMIUM.exists():
        raise StepError(f"{CHROMIUM} is missing (apt-get install chromium)")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with Lab(keep) as lab:
        # The site's past first: the live site goes on from where it ends.
        history = site_history(time.time())
        fleet = lab.start_simulator(history[SOC_ENTITY][-1][1])
        _say(f"simulator serves {len(fleet.tcp) + len(fleet.serial)} devices")
        lab.start_home_assistant()
        _say(f"Home Assistant answers on {lab.api.base_url}")
        lab.onboard()
        _say("onboarded; Home Assistant is running")
        lab.remove_onboarding_entries()

        saved = [out / name for name in (*SCREENSHOTS, PLAN_CARD)]
        with _browser(lab) as page:
            dialog = ConfigFlowDialog(page, lab.api.base_url, load_strings())
            meter, *others = sorted(fleet.tcp, key=lambda d: d.family != "sdm630")
            entries = {
                "sdm630": _add_meter_in_browser(dialog, lab, meter, out / ADD_DEVICE)
            }
            for device in others:
                entries[device.family] = lab.add(
                    CONNECTION_TCP,
                    {
                        "host": device.host,
                        "port": device.port,
                        "more_options": {"unit_id": device.unit, "framing": "tcp"},
                    },
                    family=device.family,
                )
            entries |= _add_serial_devices_in_browser(dialog, lab, fleet.serial)
            _say(
                f"added {len(entries)} devices, the meter and the serial ones in Chromium"
            )
            inputs = sorted(
                {e for _, form, _ in CONTROLLERS for e in _form_inputs(form)}
            )
            lab.wait_for_values(inputs, "the controllers' inputs", required=True)
            rows = lab.seed_history(history)
            _say(
                f"gave the recorder {rows} states of the site's last {HISTORY_DAYS} days"
            )

            controllers, refusals = _add_controllers_in_browser(dialog, lab)
            entries |= controllers
            for load in FLEXIBLE_LOADS_LOADS:
                lab.add_subentry(entries["flexible_loads"], "load", load)
                # The entry starts again with each load: one at a time, or
                # a load added while it restarts is not seen until the next.
                state = f"sensor.{load['name'].lower().replace(' ', '_')}_state"
                _wait(
                    f"the load {load['name']} has no state",
                    functools.partial(lab.has_entity, state),
                    VALUES_TIMEOUT_S,
                    every_s=1,
                )
            _say(
                "added the battery manager, peak shaving, the wallbox manager and"
                f" the flexible loads in Chromium, with {len(FLEXIBLE_LOADS_LOADS)} loads"
            )
            _wait(
                "peak shaving made no plan from the history",
                lambda: lab.plan_rows(entries["peak_shaving"]) > 0,
                VALUES_TIMEOUT_S,
                every_s=2,
            )
            lab.set_option(*WALLBOX_MODE)
            entries["site"] = _add_site_in_browser(dialog, lab)
            pages = [(lab.device_of(entries["sdm630"]), "Eastron SDM630", DEVICE_PAGE)]
            pages += [
                (lab.device_of(entries[step]), form["name"], file)
                for step, form, file in CONTROLLERS
            ]
            pages.append((lab.device_of(entries["site"]), SITE_NAME, SITE))
            shown = [
                e for device_id, _, _ in pages for e in lab.device_entities(device_id)
            ]
            lab.wait_for_values(shown, "the photographed devices", required=False)

            device_pages = _read_device_pages(page, lab)
            _say(f"read the entities of {len(device_pages)} device pages")
            for device_id, name, file in pages:
                _shoot_device(page, lab, device_id, name, out / file)
            sources = _make_site_dashboard(page, lab, lab.energy_sources(entries))
            seen = _shoot_site_dashboard(page, lab, out, sources)
        seen.device_pages = device_pages
        seen.refusals = refusals
        if report is not None:
            report.write_text(json.dumps(asdict(seen), indent=2), encoding="utf-8")
        if problems := seen.problems():
            raise StepError("; ".join(problems))
        if lab.hass is not None and (complaints := log_complaints(lab.hass.output())):
            raise StepError(
                "Home Assistant's log has, about this integration: "
                + " | ".join(complaints)
            )
        _say(
            f"saved {len(saved)} screenshots in {out} after"
            f" {time.monotonic() - started:.0f} s"
        )
        return saved


def main(argv: Sequence[str] | None = None) -> int:
    """Take the screenshots; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m eo_lab.screenshots",
        description="Take the README's screenshots from Home Assistant and the simulated site.",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory (configuration and logs)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        help="write what the browser saw of the plan card and its console (JSON)",
    )
    args = parser.parse_args(argv)
    try:
        take_screenshots(args.out, keep=args.keep, report=args.report)
    except (StepError, FlowError) as err:
        print(f"screenshots: failed: {err}", file=sys.stderr)
        return 1
    except PlaywrightError as err:
        print(
            f"screenshots: failed in the browser: {_first_line(err)}", file=sys.stderr
        )
        return 1
    except (OSError, KeyError, ValueError) as err:
        print(f"screenshots: failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
