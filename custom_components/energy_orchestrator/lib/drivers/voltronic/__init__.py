"""Voltronic inverters speaking PI30 on a serial port (Axpert, MKS II, VM ...).

``codec`` frames requests and answers and checks their CRC; ``queries``
holds the answers' field tables and parsers; ``mapping`` turns answers into
canonical values; ``settings`` builds the setters and their limits;
``driver`` ties them into the family's driver.
"""

from .driver import DEFAULT_BAUDRATE, VoltronicPI30

__all__ = ["DEFAULT_BAUDRATE", "VoltronicPI30"]
