"""The at-risk early-warning model, its validation, fairness audit and charts."""
