"""The litestar app serving ``/graphql``.

The endpoint asks the running Kith for its current schema on every request, so a custom
field added from the CLI or another process is served without a restart; credentials are
answered from the authentication cache.  Whether either changed is checked by a
background task of the app (``Kith.keep_fresh``, every ``schema_check_interval`` /
``auth_check_interval``), so a request sends only its own statements.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse
from litestar import Litestar, Request, get, post
from litestar.exceptions import HTTPException
from litestar.response import Response
from litestar.static_files import create_static_files_router

from kith.core.graphql.compiled.runner import response_bytes
from kith.core.graphql.context import RequestContext
from kith.core.records.change import Actor
from kith.core.runtime import Kith
from kith.core.security.auth import SYSTEM, AuthFailed, Principal
from kith.core.security.permissions import Permissions, permissions_for
from kith.core.settings import Settings, load_settings
from kith.core.web.dashboards import DASHBOARD_ROUTES
from kith.core.web.export_http import export_records
from kith.core.web.graphql_http import BAD_REQUEST, GRAPHQL_PARAMS, BadRequest, error_response, read_post, refuse_get
from kith.core.web.rate_limits import RateLimit, counter_for

log = logging.getLogger("kith.web")

#: the caller of a public field (login): may read and write nothing
ANONYMOUS = Principal(user_id=0, name="anonymous", via="anonymous")


def _kith(request: Request[Any, Any, Any]) -> Kith:
    kith: Kith = request.app.state.kith
    return kith


@post("/graphql", status_code=200)
async def graphql_post(request: Request[Any, Any, Any]) -> Response[Any]:
    try:
        body = read_post(request.headers.get("content-type"), await request.body())
    except BadRequest as exc:
        return exc.response()
    kith = _kith(request)
    await kith.refresh_if_changed(auth=True)
    try:
        found = await kith.auth.identify(request.headers.get("authorization"), request.headers.get("x-api-key"))
    except AuthFailed as exc:
        return BadRequest(str(exc), 401, "UNAUTHENTICATED").response()
    principal = found.principal if found is not None else None
    if (
        principal is None
        and not only_public_fields(body.query, body.operation_name)
        and not (_local_tooling(request, kith) and only_public_fields(body.query, body.operation_name, INTROSPECTION))
    ):
        return BadRequest(
            "authentication required: send 'Authorization: Bearer <token or API key>' (log in with the login mutation)",
            401,
            "UNAUTHENTICATED",
        ).response()
    content = await answer(
        kith,
        body.query,
        body.variables,
        body.operation_name,
        request,
        principal or ANONYMOUS,
        permissions=found.permissions if found is not None else None,
    )
    return Response(content, media_type="application/json")


PUBLIC_FIELDS = frozenset({"login", "__typename"})
#: what client tooling (codegen, editors) fetches to learn the schema
INTROSPECTION = frozenset({"__schema", "__type", "__typename"})
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _local_tooling(request: Request[Any, Any, Any], kith: Kith) -> bool:
    """In development, a client on this machine may read the schema without signing in,
    so editors and code generators work; production keeps introspection off for all."""
    client = request.client.host if request.client else None
    return kith.settings.introspection_enabled and not kith.settings.is_production and client in LOOPBACK


def only_public_fields(query: str, operation_name: str | None, public: frozenset[str] = PUBLIC_FIELDS) -> bool:
    """Whether an anonymous request asks only for what is public (logging in)."""
    try:
        document = parse(query)
    except GraphQLError:
        return True  # let execution report the syntax error
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name and definition.name and definition.name.value != operation_name:
            continue
        for selection in definition.selection_set.selections:
            if not isinstance(selection, FieldNode) or selection.name.value not in public:
                return False
    return True


async def execute(
    kith: Kith,
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
    request: Any = None,
    actor: Actor | None = None,
    principal: Principal | None = None,
    permissions: Permissions | None = None,
) -> dict[str, Any]:
    """Run one GraphQL operation against the current schema; returns the response body.

    ``principal`` is who is asking (default: the system itself, for in-process callers);
    their roles limit what every query and mutation in the operation may touch.
    ``permissions`` are the principal's when the caller has them already (the web app's
    authentication cache); otherwise they are read from their roles.
    """
    context = await _context(kith, request, actor, principal, permissions)
    body = await _compiled(kith, query, variables, operation_name, context)
    if body is None:
        body = await _written(kith, query, variables, operation_name, context)
    if body is not None:
        answered: dict[str, Any] = orjson.loads(body)
        return answered
    return await _general(kith, query, variables, operation_name, context)


async def answer(
    kith: Kith,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    request: Any,
    principal: Principal,
    *,
    permissions: Permissions | None = None,
    compiled: bool = True,
) -> bytes:
    """``execute`` for HTTP: the response body as JSON bytes, the same bytes whichever
    path answered (``compiled=False``: the general executor answers, for comparing)."""
    context = await _context(kith, request, None, principal, permissions)
    body = await _compiled(kith, query, variables, operation_name, context) if compiled else None
    if body is None and compiled:
        body = await _written(kith, query, variables, operation_name, context)
    if body is None:
        body = response_bytes(await _general(kith, query, variables, operation_name, context))
    return body


async def _context(
    kith: Kith,
    request: Any,
    actor: Actor | None,
    principal: Principal | None,
    permissions: Permissions | None = None,
) -> RequestContext:
    await kith.refresh_if_changed()
    principal = principal or SYSTEM
    if actor is None:
        if permissions is None and not principal.is_admin:
            permissions = await permissions_for(kith, principal)
        actor = principal.actor("api_key" if principal.via == "api_key" else "graphql")
        actor = Actor(actor.name, actor.source, actor.user_id, permissions)
    return RequestContext(kith, actor, request, principal)


async def _compiled(
    kith: Kith, query: str, variables: dict[str, Any] | None, operation_name: str | None, context: RequestContext
) -> bytes | None:
    """The compiled path's answer, or None when the general executor must answer."""
    if not kith.settings.compiled_reads:
        return None
    try:
        return await kith.schema.compiled.answer(
            query,
            variables or {},
            operation_name,
            context.permissions,
            lambda rest, values: _general(kith, rest, values, operation_name, context),
        )
    except Exception:  # a statement the database refused: the general executor answers (or reports) it
        log.exception("a compiled read failed; the general executor answers it")
        return None


async def _written(
    kith: Kith, query: str, variables: dict[str, Any] | None, operation_name: str | None, context: RequestContext
) -> bytes | None:
    """A generated create or update answered without the general executor, or None."""
    if not kith.settings.compiled_writes:
        return None
    return await kith.schema.writes.answer(query, variables, operation_name, context)


async def _general(
    kith: Kith, query: str, variables: dict[str, Any] | None, operation_name: str | None, context: RequestContext
) -> dict[str, Any]:
    result = await kith.schema.strawberry.execute(
        query, variable_values=variables, context_value=context, operation_name=operation_name
    )
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [error.formatted for error in result.errors]
    return response


@get("/graphql", media_type="text/html")
async def graphiql(request: Request[Any, Any, Any]) -> Response[Any]:
    """GraphiQL in development; a GET carrying a GraphQL request is refused (405), since
    operations run only over POST (see ``kith.core.web.graphql_http``)."""
    wants_page = "text/html" in request.headers.get("accept", "")
    has_request = not GRAPHQL_PARAMS.isdisjoint(request.query_params)
    if has_request and not (wants_page and _kith(request).settings.graphiql_enabled):
        return refuse_get(dict(request.query_params)).response()
    if not _kith(request).settings.graphiql_enabled:
        return BadRequest("GraphiQL is off (production mode); POST queries to /graphql", 404, "NOT_FOUND").response()
    return Response(GRAPHIQL_PAGE.read_text(), media_type="text/html")


#: Kith's GraphiQL page and its assets (GraphiQL, React), served by Kith itself: the page
#: works without a network and explains (and does) signing in
GRAPHIQL_DIR = Path(__file__).parent / "graphiql"
GRAPHIQL_PAGE = GRAPHIQL_DIR / "page.html"
graphiql_assets = create_static_files_router(
    path="/graphiql/static", directories=[GRAPHIQL_DIR], name="graphiql_assets", include_in_schema=False
)


@post("/webhooks/{source:str}", status_code=202)
async def inbound_webhook(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Signed deliveries from a configured source (``kith webhooks add-source``)."""
    from kith.core.automations.webhooks import receive

    source = str(request.path_params["source"])
    status, body = await receive(_kith(request), source, await request.body(), dict(request.headers))
    return Response(body, status_code=status)


@get("/health")
async def health(request: Request[Any, Any, Any]) -> dict[str, Any]:
    kith = _kith(request)
    await kith.db.execute("SELECT 1")
    return {"status": "ok", "plugins": kith.plugins.active}


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own refusals (a method not allowed, a path not found, too many
    requests) in the GraphQL error shape, logged as one line: they are the client's."""
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 429: "THROTTLED"}.get(exc.status_code, BAD_REQUEST)
    return BadRequest(str(exc.detail), exc.status_code, code, dict(exc.headers or {})).response()


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A failure of the server outside GraphQL execution: logged with its traceback and a
    reference, answered without details."""
    reference = uuid.uuid4().hex[:12]
    log.error("internal error ref %s on %s %s", reference, request.method, request.url.path, exc_info=exc)
    return error_response(f"Unexpected error (ref {reference}).", 500, "INTERNAL_SERVER_ERROR")


def create_app(settings: Settings | None = None, kith: Kith | None = None, run_worker: bool | None = None) -> Litestar:
    """The ASGI app.  Give ``kith`` to share an already open instance (tests).

    The automation worker runs inside the app unless ``worker_in_serve`` is off (the
    embedded default keeps one process; on PostgreSQL, run ``kith worker`` processes).
    """

    resolved = settings or (kith.settings if kith is not None else load_settings())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        own = kith is None
        instance = kith or await Kith.open(resolved)
        app.state.kith = instance
        for plugin, handlers in instance.plugins.call("kith_routes"):
            for handler in handlers:
                try:
                    app.register(handler)
                except Exception:
                    log.exception("plugin %s: route %r could not be mounted", plugin, handler)
        stop = asyncio.Event()
        worker_task = None
        if run_worker if run_worker is not None else instance.settings.worker_in_serve:
            from kith.core.automations.worker import Worker

            worker_task = asyncio.create_task(Worker(instance).run_forever(stop))
        fresh_task = asyncio.create_task(instance.keep_fresh(stop))
        try:
            if counter is not None:
                await counter.start()
            yield
        finally:
            stop.set()
            await fresh_task
            if worker_task is not None:
                await worker_task
            if counter is not None:
                await counter.close()
            if own:
                await instance.close()
            else:
                await instance.auth.flush_key_uses(force=True)

    counter = counter_for(resolved.rate_limit_store) if resolved.rate_limit_per_minute else None
    middleware = [RateLimit.define(counter, resolved.rate_limit_per_minute)] if counter is not None else []
    app = Litestar(
        route_handlers=[
            graphql_post,
            graphiql,
            graphiql_assets,
            inbound_webhook,
            health,
            export_records,
            *DASHBOARD_ROUTES,
        ],
        lifespan=[lifespan],
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
        logging_config=None,  # keep the host's logging (uvicorn, the CLI, pytest)
        debug=False,
    )
    app.state.rate_counter = counter
    return app
