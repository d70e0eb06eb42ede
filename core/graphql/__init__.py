"""The GraphQL API: one strawberry schema, derived from the entity declarations,
custom field definitions and plugin contributions, rebuilt when any of them change."""
