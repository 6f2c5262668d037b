"""Start a node from its config file, until SIGINT or SIGTERM."""

import asyncio
import logging
from pathlib import Path
import signal
import sys

from custom_components.energy_orchestrator.lib.drivers.errors import DeviceError

from .config import ConfigError, load_config
from .node import Node

_LOGGER = logging.getLogger(__name__)


async def _serve(node: Node) -> None:
    """Run the node until a signal asks it to stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await node.run(stop)


def run(config_path: Path, *, log_level: str = "INFO") -> int:
    """Check the config, then run the node; return the exit status.

    A config with mistakes prints each one with its key and exits 1 before
    anything is opened.
    """
    logging.basicConfig(
        level=log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        config = load_config(config_path)
    except ConfigError as err:
        for problem in err.problems:
            print(f"eo node: {problem}", file=sys.stderr)
        return 1

    async def main() -> None:
        node = Node(config)
        await _serve(node)

    try:
        asyncio.run(main())
    except (ValueError, DeviceError) as err:
        # A family that cannot be built so, a bus asked for at two speeds.
        print(f"eo node: {err}", file=sys.stderr)
        return 1
    return 0
