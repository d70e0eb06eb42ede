"""Running automations in tests."""

from __future__ import annotations

from kith.core.automations.worker import Worker
from kith.core.runtime import Kith


async def run_worker_until_idle(kith: Kith) -> int:
    """Process every event and job that is due now (what ``kith worker --once`` does);
    returns how many were handled.  Jobs scheduled for later (waits, retries) stay."""
    return await Worker(kith).run_until_idle()
