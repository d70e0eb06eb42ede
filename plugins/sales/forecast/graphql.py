"""GraphQL of forecasts and KPIs."""

from __future__ import annotations

import strawberry


@strawberry.type
class ForecastQueries:
    pass
