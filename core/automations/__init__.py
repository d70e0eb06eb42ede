"""Automations: rules that react to events, schedules and webhooks, run durably by workers."""
