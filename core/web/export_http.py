"""``GET /export/{entity}``: a signed-in caller downloads what they may read of an entity.

The same export as ``kith export --as``: the caller's read scope, their hidden fields
left out, the filter in the GraphQL filter language (JSON in the ``filter`` query
parameter), as CSV (default), JSON Lines or XLSX (``format``).  Credentials are those
of ``POST /graphql`` (``Authorization: Bearer <API key or login token>``, or
``X-API-Key``), answered from the same authentication cache.

Everything a caller can get wrong is answered before the first byte, with a status and
the GraphQL error shape: 401 without valid credentials, 404 for an unknown entity, 403
without read permission on it, 400 for a bad format or filter (naming the field and the
reason).  ``Export.open`` reads the first page to know.  The body is then streamed a
page at a time (an XLSX workbook is built in a temporary file first: a zip is complete
only at its end), so the server's memory stays flat whatever the size of the export.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

from litestar import Request, get
from litestar.response import Response, Stream

from kith.core.errors import ValidationFailed
from kith.core.graphql.errors import log_client_error
from kith.core.records.export import FORMATS, Export, to_csv, to_jsonl
from kith.core.records.export_xlsx import xlsx_chunks
from kith.core.runtime import Kith
from kith.core.security.auth import AuthFailed
from kith.core.security.permissions import Forbidden
from kith.core.web.graphql_http import BadRequest


@get("/export/{entity:str}", include_in_schema=False)
async def export_records(request: Request[Any, Any, Any]) -> Response[Any] | Stream:
    kith: Kith = request.app.state.kith
    entity = str(request.path_params["entity"])
    await kith.refresh_if_changed(auth=True)
    try:
        found = await kith.auth.identify(request.headers.get("authorization"), request.headers.get("x-api-key"))
    except AuthFailed as exc:
        return BadRequest(str(exc), 401, "UNAUTHENTICATED").response()
    if found is None:
        return BadRequest(
            "authentication required: send 'Authorization: Bearer <token or API key>'", 401, "UNAUTHENTICATED"
        ).response()
    fmt = request.query_params.get("format", "csv")
    if fmt not in FORMATS:
        return BadRequest(f"format: must be one of {', '.join(FORMATS)}, not {fmt!r}").response()
    if entity not in kith.entities:
        known = ", ".join(sorted(e.name for e in kith.entities))
        return BadRequest(f"no entity named {entity!r} (known: {known})", 404, "NOT_FOUND").response()
    try:
        filter_ = _filter(request.query_params.get("filter"))
        export = await Export.open(kith, entity, filter_, found.permissions, audit=(found.principal.name, fmt))
    except BadRequest as exc:
        return exc.response()
    except Forbidden as exc:
        return BadRequest(str(exc), 403, "FORBIDDEN").response()
    except ValidationFailed as exc:
        return _invalid(exc)
    media_type, extension = FORMATS[fmt]
    filename = f"{entity}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.{extension}"
    return Stream(
        _body(export, fmt),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


def _filter(text: str | None) -> dict[str, Any] | None:
    """The ``filter`` parameter: a JSON object in the GraphQL filter language."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"filter: not JSON (column {exc.colno}: {exc.msg})") from None
    if not isinstance(value, dict):
        raise BadRequest('filter: must be a JSON object, like {"lastName": {"eq": "Lee"}}')
    return value


def _invalid(exc: ValidationFailed) -> Response[Any]:
    """400 naming each refused field of the filter, in the GraphQL error shape."""
    errors = [
        {"message": str(error), "extensions": {"code": "BAD_REQUEST", "field": error.field, "reason": error.code}}
        for error in exc.errors
    ]
    log_client_error(str(exc), code="BAD_REQUEST 400")
    return Response({"errors": errors}, status_code=400, media_type="application/json")


async def _body(export: Export, fmt: str) -> AsyncIterator[bytes]:
    if fmt == "xlsx":
        async for chunk in xlsx_chunks(export):
            yield chunk
        return
    async for text in to_csv(export) if fmt == "csv" else to_jsonl(export):
        yield text.encode()
