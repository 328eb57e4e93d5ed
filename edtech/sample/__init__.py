"""The seeded sample district and its planted truths."""
