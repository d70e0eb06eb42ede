"""Value normalisers shared by built-in fields and custom fields."""
