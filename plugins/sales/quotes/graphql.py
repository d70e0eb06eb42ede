"""GraphQL of products and quotes."""

from __future__ import annotations

import strawberry


@strawberry.type
class QuoteQueries:
    pass


@strawberry.type
class QuoteMutations:
    pass
