"""Emulators of device families, served by pymodbus' server (``sim.servers``)."""
