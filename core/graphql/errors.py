"""How GraphQL errors are logged and what of them reaches the client.

Two kinds of errors, told apart by what raised them:

- **client errors**: the request was wrong (a syntax or validation error, a bad
  variable, an unknown operation, a ``ValidationFailed`` — not found, forbidden,
  refused input — or a ``GraphQLError`` a resolver raised on purpose).  The client gets
  the message; the log gets one line at INFO, since nothing is broken on the server
  and a traceback per typo would bury the real failures.
- **internal errors**: anything else, a bug or an outage.  The log gets the error with
  its traceback at ERROR; in production the client gets only "Unexpected error (ref
  …)", the reference also being in that log line, so support can find it.

In production the schema's shape is not spelt out to strangers either: graphql-core
appends "Did you mean …?" hints naming fields, arguments, types and enum values to its
messages; they are removed (development keeps them, they are the quickest help).

Strawberry routes every error of an operation through ``Schema.process_errors`` once,
before extensions such as the error mask run: that is where this happens, for the
parse, validation and execution phases alike.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from kith.core.errors import KithError

log = logging.getLogger("kith.graphql")

#: graphql-core's suggestions: " Did you mean 'a', 'b', or 'c'?", "Did you mean the enum
#: value 'X'?", always at the end of a sentence
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def is_client_error(error: GraphQLError) -> bool:
    """Whether the request, not the server, is at fault (see the module docstring)."""
    original = error.original_error
    return original is None or isinstance(original, KithError | GraphQLError)


def without_suggestions(message: str) -> str:
    """``message`` without graphql-core's "Did you mean …?" hints."""
    return _SUGGESTION.sub("", message)


def one_line(text: str) -> str:
    """``text`` escaped to one log line (newlines, NULs and other controls as ``\\n`` …):
    messages quote client input, which must not forge log lines."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _where(error: GraphQLError) -> str:
    if error.path:
        return " at " + ".".join(str(part) for part in error.path)
    if error.locations:
        return " at " + ", ".join(f"{loc.line}:{loc.column}" for loc in error.locations)
    return ""


def log_client_error(message: str, where: str = "", code: str | None = None) -> None:
    """The one INFO line of a refused request (GraphQL or HTTP)."""
    log.info("client error%s%s: %s", f" {code}" if code else "", where, one_line(message))


def mask(error: GraphQLError) -> GraphQLError:
    """Log an internal error with its traceback and a new reference; return what the
    client may see of it."""
    reference = uuid.uuid4().hex[:12]
    log.error("internal error ref %s%s", reference, _where(error), exc_info=error.original_error)
    return GraphQLError(
        message=f"Unexpected error (ref {reference}).",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
    )


class KithStrawberrySchema(strawberry.Schema):
    """Strawberry's schema, with Kith's error policy (module docstring) in
    ``process_errors``.  ``production`` hides schema hints and internal errors."""

    def __init__(self, *args: Any, production: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.production = production

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            if self.production:
                error.message = without_suggestions(error.message)
            if is_client_error(error):
                code = (error.extensions or {}).get("code")
                log_client_error(error.message, _where(error), code if isinstance(code, str) else None)
            elif self.production:
                masked = mask(error)
                error.message = masked.message
                error.original_error = None  # masked here, once: the mask extension leaves it
            else:
                log.error("internal error%s: %s", _where(error), one_line(error.message), exc_info=error.original_error)
