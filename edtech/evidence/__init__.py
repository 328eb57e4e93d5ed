"""Outcome-effect estimation shared by tools and interventions (methods.md section 2)."""
