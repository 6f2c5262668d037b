"""A real Mosquitto broker with passwords and the shipped ACL, and a node to run.

The broker is Debian's ``mosquitto`` (scripts/setup installs it), started on
a free loopback port with a password file and docs/mosquitto/acl, the ACL a
user installs. ``eo node`` runs as a subprocess, as on a Pi.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
import getpass
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time
from typing import Any
import uuid

import aiomqtt
from jsonschema import Draft202012Validator
import pytest
import yaml

from eo_lab.benchmarks.node import mosquitto_program

ROOT = Path(__file__).parent.parent.parent
ACL = ROOT / "docs" / "mosquitto" / "acl"
SCHEMAS = ROOT / "docs" / "schemas"
PREFIX = "energy_orchestrator"
USERS = {"homeassistant": "ha-secret", "shed": "shed-secret", "barn": "barn-secret"}


def schema(kind: str) -> Draft202012Validator:
    """Return the validator of docs/schemas/node-<kind>.schema.json."""
    document = json.loads((SCHEMAS / f"node-{kind}.schema.json").read_text())
    Draft202012Validator.check_schema(document)
    return Draft202012Validator(
        document, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


# The schema of what the node publishes on a topic, by the topic's last level.
_PUBLISHED = ("state", "config", "response", "event")


def free_port() -> int:
    """Return a TCP port free on the loopback now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Broker:
    """A Mosquitto process on a loopback port; ``restart`` keeps the port."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start Mosquitto and wait until it takes connections."""
        config = self.folder / "mosquitto.conf"
        mosquitto = mosquitto_program()
        assert mosquitto is not None
        self.process = subprocess.Popen(
            [mosquitto, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "mosquitto.log").open("ab"),
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {self.log()}")

    def stop(self) -> None:
        """Stop Mosquitto."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def log(self) -> str:
        """Return what Mosquitto logged."""
        return (self.folder / "mosquitto.log").read_text(errors="replace")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Run Mosquitto with the users above and the shipped ACL."""
    running = start_broker(tmp_path / "broker")
    yield running
    running.stop()


def start_broker(folder: Path) -> Broker:
    """Start Mosquitto with the users above and the shipped ACL in a new folder.

    It blocks until the broker takes connections: inside Home Assistant's
    loop, run it in an executor.
    """
    passwd = mosquitto_program("mosquitto_passwd")
    if mosquitto_program() is None or passwd is None:
        pytest.fail("mosquitto is not installed: run scripts/setup")
    folder.mkdir()
    passwords = folder / "passwd"
    passwords.touch(mode=0o600)
    for user, password in USERS.items():
        subprocess.run(
            [passwd, "-b", str(passwords), user, password],
            check=True,
            capture_output=True,
        )
    acl = folder / "acl"
    acl.write_text(ACL.read_text())
    acl.chmod(0o600)
    port = free_port()
    (folder / "mosquitto.conf").write_text(
        "per_listener_settings false\n"
        "allow_anonymous false\n"
        f"password_file {passwords}\n"
        f"acl_file {acl}\n"
        "persistence false\n"
        # Run as whoever runs the tests: Mosquitto started as root would drop
        # to its own user, who cannot read the test's temporary folder.
        f"user {getpass.getuser()}\n"
        f"listener {port} 127.0.0.1\n"
        "log_dest stderr\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
    )
    running = Broker(folder, port)
    running.start()
    return running


def utc_now() -> str:
    """Return now as the envelope's ISO 8601 UTC time."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Client:
    """A plain MQTT client speaking the documented envelope, and nothing else.

    It is what a Node-RED flow does: publish JSON to a request topic, read
    JSON from the response topic; it shares no code with the node.
    """

    mqtt: aiomqtt.Client
    node: str = "shed"
    messages: dict[str, list[dict[str, Any] | str]] = field(default_factory=dict)
    retained: dict[str, bool] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # Every message the node published that its schema refuses.
    invalid: list[str] = field(default_factory=list)
    validators: dict[str, Draft202012Validator] = field(
        default_factory=lambda: {
            kind: schema(kind) for kind in (*_PUBLISHED, "request")
        }
    )

    def check(self, topic: str, message: Any) -> None:
        """Validate a message against the schema of its topic, noting failures."""
        leaf = topic.rsplit("/", 1)[-1]
        if leaf == "request":
            return
        if leaf in self.validators:
            self.invalid.extend(
                f"{topic}: {error.message}"
                for error in self.validators[leaf].iter_errors(message)
            )

    def topic(self, *levels: str) -> str:
        """Return a topic under the node."""
        return "/".join((PREFIX, self.node, *levels))

    def received(self, *levels: str) -> list[Any]:
        """Return every message on a topic so far."""
        return self.messages.get(self.topic(*levels), [])

    async def wait_for(
        self, predicate: Any, within: float = 15.0, what: str = "a message"
    ) -> Any:
        """Wait until ``predicate()`` returns something truthy; return it."""
        deadline = time.monotonic() + within
        while True:
            if result := predicate():
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {within} s: {self.messages}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), 0.2)

    async def state(self, comp: str, **expected: Any) -> dict[str, Any]:
        """Wait for a state message of a component matching ``expected``."""
        start = len(self.received(comp, "state"))

        def match() -> dict[str, Any] | None:
            for message in self.received(comp, "state")[start:]:
                if all(message.get(k) == v for k, v in expected.items()):
                    return message  # type: ignore[no-any-return]
            return None

        return await self.wait_for(match, what=f"{comp} state {expected}")  # type: ignore[no-any-return]

    async def request(
        self,
        comp: str,
        command: str,
        parameters: dict[str, Any] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Send a request in the envelope and return its response."""
        request_id = extra.pop("request_id", str(uuid.uuid4()))
        body = {
            "request_id": request_id,
            "time": utc_now(),
            "node": self.node,
            "comp": comp,
            "command": command,
            "parameters": parameters or {},
            **extra,
        }
        self.validators["request"].validate(body)
        return await self.send(comp, json.dumps(body).encode(), request_id)

    async def send(
        self, comp: str, payload: bytes, request_id: Any, within: float = 15.0
    ) -> dict[str, Any]:
        """Publish a raw payload to a request topic; return the response."""
        start = len(self.received(comp, "response"))
        await self.mqtt.publish(self.topic(comp, "request"), payload, qos=1)

        def match() -> dict[str, Any] | None:
            for message in self.received(comp, "response")[start:]:
                if message.get("request_id") == request_id:
                    return message  # type: ignore[no-any-return]
            return None

        return await self.wait_for(match, within, f"response to {request_id}")  # type: ignore[no-any-return]


async def _collect(client: Client) -> None:
    """Keep every message the client receives, decoded, until the broker goes."""
    with contextlib.suppress(aiomqtt.MqttError):
        await _receive(client)


async def _receive(client: Client) -> None:
    """Keep every message the client receives, decoded."""
    async for message in client.mqtt.messages:
        payload = message.payload
        text = payload.decode() if isinstance(payload, bytes) else str(payload)
        try:
            decoded: Any = json.loads(text)
        except ValueError:
            decoded = text
        topic = message.topic.value
        client.check(topic, decoded)
        client.messages.setdefault(topic, []).append(decoded)
        client.retained[topic] = bool(message.retain)
        client.arrived.set()


@contextlib.asynccontextmanager
async def mqtt_client(
    broker: Broker, user: str = "homeassistant", node: str = "shed"
) -> AsyncIterator[Client]:
    """Connect as a user, subscribed to everything that user may read."""
    async with aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username=user,
        password=USERS[user],
        identifier=f"test-{user}-{uuid.uuid4().hex[:8]}",
    ) as mqtt:
        client = Client(mqtt, node)
        await mqtt.subscribe(f"{PREFIX}/#", qos=1)
        task = asyncio.create_task(_collect(client))
        try:
            yield client
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Every message the node published kept to docs/schemas/.
        assert not client.invalid


@contextlib.asynccontextmanager
async def heartbeat(client: Client) -> AsyncIterator[None]:
    """Publish the controller's heartbeat twice a second while inside."""

    async def beat() -> None:
        while True:
            # It goes on beating through a lost broker, as a controller would.
            with contextlib.suppress(aiomqtt.MqttError):
                await client.mqtt.publish(client.topic("heartbeat"), utc_now(), qos=1)
            await asyncio.sleep(0.5)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_until(condition: Any, within: float, what: str) -> float:
    """Wait until ``condition()`` holds, as a device is read; return how long it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > within:
            raise AssertionError(f"{what} not within {within} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def failsafe_events(client: Client, state: str) -> list[dict[str, Any]]:
    """Return the ``failsafe`` events of a state (entered, left) so far."""
    return [
        e
        for e in client.received("event")
        if isinstance(e, dict) and e.get("event") == "failsafe" and e["state"] == state
    ]


@dataclass
class NodeProcess:
    """``eo node`` running as a subprocess."""

    process: asyncio.subprocess.Process
    log: Path

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the node and wait for it to end; return its status."""
        if self.process.returncode is None:
            self.process.send_signal(signum)
        return await asyncio.wait_for(self.process.wait(), 15)

    def output(self) -> str:
        """Return what the node logged."""
        return self.log.read_text(errors="replace")


def write_config(folder: Path, broker: Broker, config: dict[str, Any]) -> Path:
    """Write a node config with the broker's address and the node's password."""
    node = config["node"]
    full = {
        "mqtt": {
            "host": "127.0.0.1",
            "port": broker.port,
            "username": node,
            "password": USERS[node],
            "prefix": PREFIX,
        },
        **config,
    }
    path = folder / f"{node}.yaml"
    path.write_text(yaml.safe_dump(full))
    return path


@contextlib.asynccontextmanager
async def run_node(config: Path) -> AsyncIterator[NodeProcess]:
    """Run ``eo node --config`` as a subprocess; stop it on the way out."""
    log = config.with_suffix(".log")
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "eo_lab",
            "node",
            "--config",
            str(config),
            "--log-level",
            "DEBUG",
            stdout=sink,
            stderr=sink,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    node = NodeProcess(process, log)
    try:
        yield node
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
