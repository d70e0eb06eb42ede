"""Records: the one write path and the one read path for every entity."""
