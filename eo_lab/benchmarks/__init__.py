"""Benchmarks behind `eo bench`: figures to print, never to assert."""
