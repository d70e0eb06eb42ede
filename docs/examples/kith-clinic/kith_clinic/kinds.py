"""The timeline kind the clinic adds: a therapist's note of a session."""

SESSION_NOTE = "session_note"
