"""Interventions and the early-warning loop (methods.md v2 section 6): coverage of flagged students, progress
monitoring, efficacy with the section-2 effect engine, and the regression discontinuity at the risk cut-off.
Pure: frames in, frames or dataclasses out (imports only edtech.core and edtech.evidence)."""
