"""The configuration ``scripts/develop`` starts Home Assistant with.

``python -m eo_lab.develop --config config --host 127.0.0.1 --port 8123``
writes ``configuration.yaml`` when there is none (a user's edits stay),
links the integration into ``custom_components`` and sets the address Home
Assistant serves on.

The address is not in ``configuration.yaml``: Home Assistant 2026.10 keeps
its HTTP settings in ``.storage/http`` and takes ``http:`` from YAML only as
a trial that it reverts after five minutes unless confirmed in the browser.
So the settings are written into the store, as Home Assistant keeps them:
a new store in its first format (which Home Assistant migrates, taking the
settings as confirmed), an existing one with its address changed in place.
"""

import argparse
from collections.abc import Sequence
import json
from pathlib import Path
import sys
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8123

# Not default_config: it pulls in go2rtc, ffmpeg and Bluetooth, which need
# binaries and hardware a development machine may lack. Home Assistant sets
# up its default integrations (the voice pipeline, TTS, cameras ...) whatever
# this says; their packages come with scripts/setup (the group hass-defaults
# of pyproject.toml), so the first start installs nothing.
CONFIGURATION_YAML = """\
# Created by scripts/develop. The integration itself is added in the UI.
# The address Home Assistant serves on is in .storage/http: scripts/develop
# --host sets it.
frontend:
config:
energy:
history:
logbook:
system_health:

logger:
  default: info
  logs:
    custom_components.energy_orchestrator: debug
"""


def write_http_settings(config: Path, host: str, port: int) -> None:
    """Make Home Assistant serve on ``host:port`` from its next start."""
    path = config / ".storage" / "http"
    stored: dict[str, Any] | None = (
        json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    )
    address = {"server_host": [host], "server_port": port}
    if stored is None or stored.get("version") == 1:
        # The first format is one flat set of settings.
        data = (stored or {}).get("data", {}) | address
        stored = {"version": 1, "minor_version": 1, "key": "http", "data": data}
    else:
        # Later formats keep the confirmed settings and a trial beside them.
        for slot in ("stable", "pending"):
            if stored["data"].get(slot) is not None:
                stored["data"][slot] |= address
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2), encoding="utf-8")


def prepare(config: Path, host: str, port: int) -> None:
    """Write what Home Assistant needs to start with the integration."""
    config.mkdir(parents=True, exist_ok=True)
    configuration = config / "configuration.yaml"
    if not configuration.exists():
        configuration.write_text(CONFIGURATION_YAML, encoding="utf-8")
    # Home Assistant loads custom integrations from <config>/custom_components.
    link = config / "custom_components"
    if link.is_symlink() or not link.exists():
        link.unlink(missing_ok=True)
        link.symlink_to(ROOT / "custom_components")
    write_http_settings(config, host, port)


def main(argv: Sequence[str] | None = None) -> int:
    """Prepare the configuration directory; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m eo_lab.develop",
        description="Prepare the configuration scripts/develop runs.",
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)
    if "://" in args.host or not args.host:
        print(
            f"scripts/develop: --host takes an address to serve on (127.0.0.1,"
            f" 0.0.0.0), not {args.host!r}",
            file=sys.stderr,
        )
        return 1
    prepare(args.config, args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
