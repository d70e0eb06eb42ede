"""A distribution for tests: a lettings agency's CRM built on the sales plugin."""

from kith.sdk import Distribution, Grant, RoleDefinition

CALLS: list[str] = []


async def setup(context):
    CALLS.append("setup")


distribution = Distribution(
    name="lettings",
    version="1.2.0",
    summary="A CRM for lettings agencies.",
    plugins=("sales",),
    custom_fields=(
        {"entity": "contact", "name": "max_rent", "type": "money", "label": "Maximum rent"},
        {"entity": "contact", "name": "bedrooms", "type": "integer", "indexed": True},
    ),
    roles=(
        RoleDefinition(
            name="letting_agent",
            description="Lets properties.",
            grants={
                "contact": Grant(actions=["read", "update"], scope="own"),
                "deal": Grant(actions=["read", "create", "update"], scope="own"),
            },
        ),
    ),
    rules=(
        {
            "name": "lettings.welcome",
            "enabled": True,
            "trigger": {"event": "contact.created"},
            "actions": [{"add_tag": {"tag": "tenant"}}],
        },
    ),
    records=(
        {"entity": "pipeline", "key": "lettings", "values": {"name": "Lettings"}},
        {"entity": "stage", "values": {"pipeline": "@lettings", "name": "Viewing", "probability": 30}},
        {
            "entity": "stage",
            "values": {"pipeline": "@lettings", "name": "Let", "probability": 100, "kind": "won", "position": 1},
        },
    ),
    setup=setup,
)

broken = Distribution(
    name="broken",
    version="1",
    records=({"entity": "stage", "values": {"pipeline": "@nowhere", "name": "X"}},),
    plugins=("sales",),
)
