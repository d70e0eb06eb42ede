"""Segments: who a campaign or journey is for.

A dynamic segment is a contact filter in the GraphQL filter language; its members are
kept in ``marketing_segment_membership``, brought up to date set-wise in SQL (never per
contact in Python) and incrementally on every write that can change a contact's answer
(``engine``).  A static segment is a list people add contacts to.
"""
