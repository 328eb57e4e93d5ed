"""`python -m edtech`: argparse and printing only."""
