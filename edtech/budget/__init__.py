"""Multi-year budget scenarios, Monte Carlo uncertainty, the optimizer, and their charts."""
