"""Journeys: contacts enter on a trigger (joining a segment, or by hand) and move through
steps (send, wait, branch, A/B split, update, tag, task, create a record) until the end
or the journey's goal; each step runs once, as a plugin job, in one transaction with the
record of it (``engine``), so a restart neither loses nor repeats one."""
