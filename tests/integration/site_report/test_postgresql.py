"""``eo report`` on PostgreSQL: a real server, its statistics written by Home Assistant's recorder.

The server is Debian's (``scripts/setup`` installs the ``postgresql``
package), started for the test on a free loopback port in a temporary
folder; the recorder writes the known month into it through psycopg2, the
driver SQLAlchemy uses for ``postgresql://`` URLs, as Home Assistant's own
installations do. The report must be the one ``eo report`` makes from the
SQLite sample of the same month, to the byte.
"""

from collections.abc import Iterator
import os
from pathlib import Path
import shutil
import socket
import subprocess
import tempfile

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import RecorderInstanceContextManager

from eo_lab import cli

from .conftest import SAMPLE
from .month import ENTITIES, PURCHASES, TIME_ZONE, import_month

pytestmark = pytest.mark.slow
SERVER_MISSING = (
    "PostgreSQL's server is not installed (Debian's postgresql package; "
    "scripts/setup installs it)"
)


def _server_bin() -> Path | None:
    """Return the folder of PostgreSQL's server programs, newest version first."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def postgresql() -> Iterator[str]:
    """Start a PostgreSQL server of its own; return its database's URL."""
    bindir = _server_bin()
    if bindir is None:
        pytest.skip(SERVER_MISSING)
    folder = Path(tempfile.mkdtemp(prefix="eo-postgresql-"))
    data = folder / "data"
    # PostgreSQL refuses to run as root: as root, run it as its own user.
    as_server: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_server = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_server, *command], check=True, capture_output=True)

    run(str(bindir / "initdb"), "-D", str(data), "-U", "ha", "--auth=trust",
        "--no-locale", "-E", "UTF8")  # fmt: skip
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {folder}"
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"),
        "-o", options, "-w", "start")  # fmt: skip
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U",
            "ha", "homeassistant")  # fmt: skip
        yield f"postgresql://ha@127.0.0.1:{port}/homeassistant"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def recorder_db_url(postgresql: str) -> str:
    """Return the recorder's database: the PostgreSQL server's."""
    return postgresql


@pytest.fixture
def mock_recorder_before_hass(
    async_test_recorder: RecorderInstanceContextManager,
) -> None:
    """Prepare the recorder before Home Assistant."""


async def test_eo_report_on_postgresql_equals_sqlite(
    hass: HomeAssistant, recorder_mock: Recorder, postgresql: str, tmp_path: Path
) -> None:
    """The month the recorder wrote into PostgreSQL reports as the SQLite sample does."""
    assert recorder_mock.engine is not None
    assert recorder_mock.engine.dialect.name == "postgresql"
    await hass.config.async_set_time_zone(TIME_ZONE)
    import_month(hass)
    await async_wait_recording_done(hass)
    purchases = tmp_path / "purchases.csv"
    purchases.write_text(PURCHASES)
    copy = tmp_path / "sample.db"
    await hass.async_add_executor_job(shutil.copyfile, SAMPLE, copy)
    outputs = []
    for db_url in (postgresql, f"sqlite:///{copy}"):
        out = tmp_path / f"{len(outputs)}.csv"
        argv = [
            "report", "--db", db_url, "--entities", ENTITIES,
            "--purchases", str(purchases), "--from", "2026-03-01",
            "--to", "2026-03-31", "--resolution", "hour", "--timezone", TIME_ZONE,
            "--out", str(out),
        ]  # fmt: skip
        assert await hass.async_add_executor_job(cli.main, argv) == 0
        outputs.append(await hass.async_add_executor_job(out.read_text))
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) == 31 * 24 + 1
