"""The import engine as plugins call it (``PluginContext.import_file``): one request, run
to the end as the context's actor, with what became of every line.  ``kith import`` and
a plugin's own import command (``kith sales import-leads``) are then the same import:
the same mapping rules, checks, resumption and per-line report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kith.core.imports import mapping, runner
from kith.core.imports.sources import open_source
from kith.core.records.change import Actor

if TYPE_CHECKING:
    from kith.core.runtime import Kith


@dataclass(frozen=True)
class ImportOutcome:
    """A finished import: its run (``created``, ``updated``, ``skipped``, ``failed``
    counts; ``dry_run``) and each line's result (``line``, ``status``, ``record_id``,
    ``errors`` as ``[{"field", "message"}]``), in line order."""

    run: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def problems(self) -> list[dict[str, Any]]:
        """The lines skipped or refused."""
        return [row for row in self.results if row["status"] in ("skipped", "failed")]


def suggested_mapping(
    kith: Kith, entity: str, path: Path, *, encoding: str = "utf-8", sheet: str | None = None
) -> dict[str, str]:
    """``{header: target}`` as ``kith import`` would suggest it; ``""`` for a header that
    names no field."""
    source = open_source(path, encoding=encoding, sheet=sheet)
    return mapping.suggest(kith, kith.entities.get(entity), source.headers)


async def import_file(
    kith: Kith,
    request: runner.ImportRequest,
    actor: Actor,
    *,
    on_chunk: Callable[[dict[str, Any]], None] | None = None,
) -> ImportOutcome:
    """Run ``request`` to its end (resuming an unfinished run of the same file) as ``actor``."""
    run_id = await runner.start(kith, request, actor)
    stored = await runner.run(kith, run_id, actor, on_chunk=on_chunk)
    return ImportOutcome(stored, await runner.results(kith, run_id))
