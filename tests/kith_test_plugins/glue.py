"""Two small plugins and the glue between them, for the CLI's glue tests: a shout on a
contact's timeline gets an echo while the glue is enabled."""

from __future__ import annotations

import types

from kith.sdk import Change, Plugin, entity_hook, hookimpl


def kinds() -> list[str]:
    return ["shout"]


async def echo(change: Change) -> None:
    after = change.after or {}
    if after.get("kind") == "shout":
        note = {"subject_type": after["subject_type"], "subject_id": after["subject_id"], "kind": "note"}
        await change.context.system.create("activity", {**note, "subject": "echo"})


shouts = Plugin(
    name="shouts",
    version="1.0.0",
    hooks=types.SimpleNamespace(kith_activity_kinds=hookimpl(specname="kith_activity_kinds")(kinds)),
)
echoes = Plugin(name="echoes", version="1.0.0")
glue = Plugin(
    name="shouts.echoes",
    version="1.0.0",
    depends=("shouts", "echoes"),
    glue=True,
    hooks=types.SimpleNamespace(echo=entity_hook("kith_after_create", "activity")(echo)),
)
