"""Plugin discovery, lifecycle and hook calls."""
