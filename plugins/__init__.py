"""Built-in Kith plugins (each one written only against ``kith.sdk``)."""
