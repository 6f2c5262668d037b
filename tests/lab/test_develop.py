"""scripts/develop: the configuration it writes, and a first start that installs nothing."""

import json
from pathlib import Path
import subprocess

from homeassistant import bootstrap
from homeassistant.util.package import is_installed
import pytest

from eo_lab import develop

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = Path(bootstrap.__file__).parent / "components"


def _stored(config: Path) -> dict[str, object]:
    stored: dict[str, object] = json.loads((config / ".storage" / "http").read_text())
    return stored


def test_a_new_configuration_serves_on_this_machine_only(tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert develop.main(["--config", str(config)]) == 0
    assert (config / "configuration.yaml").read_text() == develop.CONFIGURATION_YAML
    # Not in YAML: Home Assistant would take it as a trial to confirm.
    assert "\nhttp:" not in develop.CONFIGURATION_YAML
    assert (config / "custom_components").resolve() == ROOT / "custom_components"
    # Home Assistant's first storage format: it migrates it as confirmed.
    assert _stored(config) == {
        "version": 1,
        "minor_version": 1,
        "key": "http",
        "data": {"server_host": ["127.0.0.1"], "server_port": 8123},
    }


def test_a_user_s_configuration_is_kept(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "configuration.yaml").write_text("frontend:\nmqtt:\n")
    develop.prepare(config, "127.0.0.1", 8123)
    develop.prepare(config, "127.0.0.1", 8123)
    assert (config / "configuration.yaml").read_text() == "frontend:\nmqtt:\n"
    assert (config / "custom_components").is_symlink()


def test_a_stored_configuration_takes_the_address_and_keeps_the_rest(
    tmp_path: Path,
) -> None:
    """After a start, the store is Home Assistant's own: only the address changes."""
    stable = {
        "server_host": ["127.0.0.1"],
        "server_port": 8123,
        "cors_allowed_origins": ["https://cast.home-assistant.io"],
        "ip_ban_enabled": True,
        "created_at": "2026-12-07T02:45:23+00:00",
        "error": None,
        "error_message": None,
    }
    storage = tmp_path / ".storage"
    storage.mkdir()
    (storage / "http").write_text(
        json.dumps(
            {
                "version": 2,
                "minor_version": 2,
                "key": "http",
                "data": {
                    "stable": stable,
                    "pending": {**stable, "use_x_forwarded_for": True},
                    "yaml_migration_done": True,
                },
            }
        )
    )
    develop.write_http_settings(tmp_path, "0.0.0.0", 8124)
    stored = _stored(tmp_path)
    assert stored["version"] == 2
    data = stored["data"]
    assert isinstance(data, dict)
    assert data["stable"] == {**stable, "server_host": ["0.0.0.0"], "server_port": 8124}
    assert data["pending"]["use_x_forwarded_for"] is True
    assert data["pending"]["server_host"] == ["0.0.0.0"]
    assert data["yaml_migration_done"] is True


def test_a_url_is_no_address_to_serve_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert develop.main(["--config", str(tmp_path), "--host", "http://0.0.0.0"]) == 1
    assert "--host takes an address to serve on" in capsys.readouterr().err
    assert not (tmp_path / ".storage").exists()


def test_the_script_refuses_an_unknown_argument() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "develop"), "--port", "9000"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "scripts/develop: unknown argument --port (only --host ADDRESS)"
    )


def _always_set_up() -> set[str]:
    """Return the integrations Home Assistant sets up in scripts/develop's config.

    What its configuration names, what Home Assistant always sets up, and
    their dependencies.
    """
    configured = {
        line.split(":")[0]
        for line in develop.CONFIGURATION_YAML.splitlines()
        if line and not line.startswith((" ", "#"))
    }
    pending = configured | bootstrap.DEFAULT_INTEGRATIONS | bootstrap.CORE_INTEGRATIONS
    seen: set[str] = set()
    while pending:
        domain = pending.pop()
        if domain in seen:
            continue
        seen.add(domain)
        manifest = COMPONENTS / domain / "manifest.json"
        if manifest.exists():
            pending |= set(json.loads(manifest.read_text()).get("dependencies", []))
    return seen


def test_the_first_start_installs_nothing() -> None:
    """scripts/setup installed every package these integrations ask for."""
    domains = _always_set_up()
    assert {"frontend", "assist_pipeline", "conversation", "tts"} <= domains
    missing = [
        f"{domain}: {requirement}"
        for domain in sorted(domains)
        if (COMPONENTS / domain / "manifest.json").exists()
        for requirement in json.loads(
            (COMPONENTS / domain / "manifest.json").read_text()
        ).get("requirements", [])
        if not is_installed(requirement)
    ]
    assert not missing, "add to pyproject.toml's group hass-defaults"
