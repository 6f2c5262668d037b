"""SunSpec devices: SMA, Fronius, SolarEdge, FIMER and many others.

``definitions`` loads the official SunSpec model definitions shipped in
``models/``; ``codec`` decodes (and, for simulators, encodes) any model from
its registers; ``chain`` finds the map and walks the model chain; ``mapping``
turns model points into canonical keys; ``controls`` carries out commands;
``driver`` ties them into the family's driver.
"""

from .driver import DEFAULT_REVERT_TIMEOUT_S, SunSpecDriver

__all__ = ["DEFAULT_REVERT_TIMEOUT_S", "SunSpecDriver"]
