"""Publishing: one post to several accounts, scheduled, approved where needed, and
published exactly once per account (``publisher.py``)."""
