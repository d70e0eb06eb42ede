"""Campaigns: one email to a segment's eligible members, rendered per contact and sent
over SMTP at a chosen rate, with every recipient's delivery kept so a restart resends
only what was in flight (``sender``)."""
