"""Engagement tracking for campaigns: opens (a pixel), clicks (signed redirects), and
bounces and complaints tied back to the delivery they answer.

Machine opens (mail privacy proxies) and scanner clicks (security gateways) are kept
but flagged, and reports leave them out unless asked (``signatures``)."""
