"""Security: who is asking (authentication) and what they may do (roles and grants)."""
