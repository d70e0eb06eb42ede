"""Compiled reads: a GraphQL read of generated fields answered by one SQL statement
that builds the response JSON in the database (``compiler``), cached per document,
viewer and variables (``runner``)."""
