"""Reading a GraphQL-over-HTTP request, and answering one that cannot be read.

Follows the GraphQL-over-HTTP spec for ``application/json``: a request that is not a
well-formed GraphQL request (a body that is not a JSON object, ``query`` missing or not
a string, ``variables`` or ``extensions`` not an object, ``operationName`` not a string,
another media type, another method) is answered with a 4xx status and a GraphQL-style
``{"errors": [{"message", "extensions": {"code"}}]}`` body; everything the GraphQL
engine reports about a well-formed request (syntax, validation, an unknown operation,
bad variables) comes back with status 200, ``data: null`` and the errors.

``POST`` is the only method that runs operations.  ``GET`` serves GraphiQL (in
development): queries in URLs end up in access logs and browser histories with the
personal data in their variables, and a JSON body is what every client sends anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from litestar.response import Response

from kith.core.graphql.errors import log_client_error

#: the ``code`` of a request that is not a well-formed GraphQL request
BAD_REQUEST = "BAD_REQUEST"

#: query parameters that make a GET a GraphQL request rather than a visit to GraphiQL
GRAPHQL_PARAMS = frozenset({"query", "variables", "operationName", "extensions"})


class BadRequest(Exception):
    """The HTTP request is not a GraphQL request Kith can run."""

    def __init__(
        self, message: str, status: int = 400, code: str = BAD_REQUEST, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.headers = headers or {}

    def response(self) -> Response[dict[str, Any]]:
        log_client_error(self.message, code=f"{self.code} {self.status}")
        return error_response(self.message, self.status, self.code, self.headers)


def error_response(
    message: str, status: int, code: str, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    """A GraphQL-style error body."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(body, status_code=status, headers=headers, media_type="application/json")


@dataclass(frozen=True)
class GraphQLRequest:
    query: str
    variables: dict[str, Any]
    operation_name: str | None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def read_post(content_type: str | None, body: bytes) -> GraphQLRequest:
    """The GraphQL request in a POST body; raises ``BadRequest`` with the reason.

    A missing ``Content-Type`` is read as JSON (``curl -d`` and many small clients
    leave it out); any other media type is refused with 415.
    """
    if content_type and not _is_json(content_type):
        raise BadRequest(
            f"unsupported Content-Type {content_type.split(';', 1)[0]!r}: send the request as "
            '\'Content-Type: application/json\' with a body like {"query": "...", "variables": {...}}',
            status=415,
        )
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except UnicodeDecodeError:
        raise BadRequest("the request body is not JSON: it is not UTF-8 text") from None
    except (ValueError, RecursionError) as exc:  # a number too long to read, arrays nested too deep
        raise BadRequest(f"the request body is not JSON Kith can read ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(payload, dict):
        raise BadRequest(f"the request body must be a JSON object, not {_json_kind(payload)}")
    return _checked(payload)


def _checked(payload: dict[str, Any]) -> GraphQLRequest:
    query = payload.get("query")
    if query is None:
        raise BadRequest("the request has no 'query': send the GraphQL document as a string in 'query'")
    if not isinstance(query, str):
        raise BadRequest(f"'query' must be a string (the GraphQL document), not {_json_kind(query)}")
    if not query.strip():
        raise BadRequest("'query' is empty: send the GraphQL document to run")
    variables = payload.get("variables")
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise BadRequest(f"'variables' must be an object (variable name -> value), not {_json_kind(variables)}")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadRequest(
            f"'operationName' must be a string (the name of an operation in the document), "
            f"not {_json_kind(operation_name)}"
        )
    extensions = payload.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise BadRequest(f"'extensions' must be an object, not {_json_kind(extensions)}")
    # an empty operationName is what some clients send for "the only operation"
    return GraphQLRequest(query, variables, operation_name or None)


def refuse_get(params: dict[str, Any]) -> BadRequest:
    """A GET carrying a GraphQL request: answered 405, saying how to send it."""
    names = ", ".join(sorted(GRAPHQL_PARAMS & set(params)))
    return BadRequest(
        f"GraphQL requests are sent with POST, not GET (the request had {names}): POST the same to /graphql "
        'with \'Content-Type: application/json\' and a body like {"query": "...", "variables": {...}}',
        status=405,
        code="METHOD_NOT_ALLOWED",
        headers={"Allow": "POST"},
    )


def _json_kind(value: Any) -> str:
    """How a JSON value is called in an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
