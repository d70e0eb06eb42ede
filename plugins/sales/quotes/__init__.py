"""Products with prices in several currencies, and quotes on deals: line items,
discounts and taxes with exact decimal totals, revisions, statuses and an HTML document."""
