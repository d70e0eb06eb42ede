"""How machine opens and scanner clicks are recognised: heuristics, each documented in
docs/marketing.md ("Engagement"), each named in the row's ``flag_reason``.

A flagged event is kept (so reports can show it) but is not engagement: it makes no
timeline activity and reports leave it out unless ``includeFlagged``.

Machine opens, by the program fetching the pixel:

- Gmail fetches every image through its proxy, user agent ``… GoogleImageProxy``;
- Yahoo's proxy says ``YahooMailProxy``;
- Apple Mail Privacy Protection fetches the images of every mail when it arrives, from
  Apple's proxies, with a bare ``Mozilla/5.0`` user agent, from Apple's own network
  (``17.0.0.0/8``) or its relay partners; either sign flags the open.

Scanner clicks, by when and by whom:

- within ``click_scanner_seconds`` of the delivery being sent: people do not read and
  click that fast, link-checking gateways do;
- a burst: a click on another link of the same mail less than ``click_burst_seconds``
  before (both are flagged);
- a security gateway's or an HTTP library's user agent (``GATEWAY_AGENTS``), or none.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

#: lower-cased substrings of user agents that are image proxies, not a person's mail program
PROXY_AGENTS = {"googleimageproxy": "gmail-proxy", "yahoomailproxy": "yahoo-proxy"}
#: Apple Mail Privacy Protection's proxies send exactly this
APPLE_PROXY_AGENT = "Mozilla/5.0"
#: Apple's own network
APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")
#: lower-cased substrings of user agents of security gateways, link checkers and HTTP
#: libraries (no person clicks with curl)
GATEWAY_AGENTS = (
    "barracuda",
    "proofpoint",
    "mimecast",
    "safelinks",
    "symantec",
    "trendmicro",
    "forcepoint",
    "fortiguard",
    "ironport",
    "sophos",
    "bingpreview",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "curl/",
    "wget/",
    "java/",
    "okhttp",
    "libwww-perl",
    "scrapy",
)


def machine_open(user_agent: str | None, ip: str | None) -> str | None:
    """Why an open is a privacy proxy's (``gmail-proxy``, ``apple-proxy``), or None."""
    agent = (user_agent or "").strip()
    lowered = agent.lower()
    for needle, reason in PROXY_AGENTS.items():
        if needle in lowered:
            return reason
    if agent == APPLE_PROXY_AGENT:
        return "apple-proxy"
    if ip:
        try:
            if ipaddress.ip_address(ip) in APPLE_NETWORK:
                return "apple-proxy"
        except ValueError:
            pass
    return None


def gateway_agent(user_agent: str | None) -> str | None:
    """Why a click's user agent is no person's browser, or None."""
    lowered = (user_agent or "").strip().lower()
    if not lowered:
        return "no user agent"
    for needle in GATEWAY_AGENTS:
        if needle in lowered:
            return f"gateway: {needle.rstrip('/')}"
    return None


def too_soon(sent_at: dt.datetime | None, now: dt.datetime, seconds: float) -> str | None:
    """Why a click counts as a scanner's for its timing after delivery, or None."""
    if sent_at is None or seconds <= 0:
        return None
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=dt.UTC)
    if (now - sent_at).total_seconds() < seconds:
        return f"within {seconds:g}s of delivery"
    return None
