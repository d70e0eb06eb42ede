"""Personal data: export, erasure and consent, across the core and every plugin."""
