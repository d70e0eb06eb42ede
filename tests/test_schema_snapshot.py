"""The public GraphQL API is reviewed as a diff: the core schema is compared with the
committed snapshot. After an intended change, regenerate it with

    KITH_UPDATE_SNAPSHOT=1 .venv/bin/pytest tests/test_schema_snapshot.py

and commit tests/snapshots/schema.graphql with the change.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

SNAPSHOT = Path(__file__).parent / "snapshots" / "schema.graphql"


async def test_core_schema_matches_the_snapshot(kith):
    sdl = kith.schema.sdl()
    if os.environ.get("KITH_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(sdl)
    expected = SNAPSHOT.read_text()
    if sdl != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), sdl.splitlines(True), "snapshot", "now"))
        raise AssertionError(f"the public schema changed; review and update the snapshot:\n{diff}")


def test_schema_print_command_prints_the_same_schema(kith_cli):
    result = kith_cli("schema", "print")
    assert result.exit_code == 0
    assert result.output == SNAPSHOT.read_text()
