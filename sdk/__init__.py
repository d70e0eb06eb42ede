"""The public API for Kith plugin authors."""
