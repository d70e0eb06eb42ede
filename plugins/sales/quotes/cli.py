"""``kith sales …`` commands of this part of the plugin (added to the sales group)."""

from __future__ import annotations
