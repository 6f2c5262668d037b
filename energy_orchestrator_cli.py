"""Entry point of the ``eo`` command, kept free of Home Assistant.

The integration's package ``__init__`` is Home Assistant's entry point and
imports Home Assistant, which takes seconds and is not needed to read a meter
from a laptop. ``eo`` only uses the HA-free layers (drivers, control, sim), so
it registers the package as a bare namespace before importing them; the
package's own ``__init__`` then never runs.
"""

import sys
import types

import custom_components

PACKAGE = "custom_components.energy_orchestrator"


def install_package_stub() -> None:
    """Make the integration's subpackages importable without its ``__init__``."""
    if PACKAGE not in sys.modules:
        package = types.ModuleType(PACKAGE)
        package.__path__ = [
            f"{path}/energy_orchestrator" for path in custom_components.__path__
        ]
        sys.modules[PACKAGE] = package


def main() -> int:
    """Run ``eo`` with the integration's HA-free layers."""
    install_package_stub()
    from custom_components.energy_orchestrator.cli import main as cli_main  # noqa: PLC0415

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
