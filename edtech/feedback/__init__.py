"""Stakeholder feedback on tools (data contract v2 `feedback`): satisfaction by role, trend, summaries."""
