"""Errors that reach users.  Each names the field and the reason, so every surface
(GraphQL payloads, CLI lines, import reports) can show them the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; ``field`` is the GraphQL-style path."""

    field: str | None
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class KithError(Exception):
    """Base class of every error Kith reports to a user rather than logs as a crash."""


class ValidationFailed(KithError):
    """Input was refused; nothing was written."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))

    @classmethod
    def single(cls, field: str | None, code: str, message: str) -> ValidationFailed:
        return cls([FieldError(field, code, message)])

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled by its class and errors (an import's helper process sends a refusal of
        the file back to the importer): the subclasses' own arguments differ."""
        return (_restore, (type(self), self.errors))


def _restore(cls: type[ValidationFailed], errors: list[FieldError]) -> ValidationFailed:
    refusal = cls.__new__(cls)
    ValidationFailed.__init__(refusal, errors)
    return refusal


class NotFound(ValidationFailed):
    """The record does not exist (or is outside what the caller may see)."""

    def __init__(self, entity: str, record_id: object) -> None:
        super().__init__([FieldError("id", "not_found", f"{entity} {record_id} does not exist")])


class VersionConflict(ValidationFailed):
    """The record changed since the caller read it; the update was not applied."""

    def __init__(self, entity: str, record_id: object, expected: int, actual: int) -> None:
        super().__init__(
            [
                FieldError(
                    "expectedVersion",
                    "conflict",
                    f"{entity} {record_id} is at version {actual}, not {expected}; "
                    "reload it and apply your change again",
                )
            ]
        )
        self.actual = actual


class PluginError(KithError):
    """A plugin cannot be loaded, enabled or run; the message names the plugin."""
