"""Kith command line."""
