"""Storage: the database handle, engine differences and migrations."""

from kith.core.storage.database import Database
from kith.core.storage.dialect import Dialect

__all__ = ["Database", "Dialect"]
