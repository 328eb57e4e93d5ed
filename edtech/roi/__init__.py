"""Tool ROI: usage metrics, cost, effects, ROI score, recommendations, and their charts."""
