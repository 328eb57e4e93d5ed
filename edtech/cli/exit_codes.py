"""Exit codes of `python -m edtech` (data contract): 0 done, 2 wrong usage, 3 input rejected (nothing
written), 4 partly imported, 1 unexpected failure."""

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_REJECTED, EXIT_PARTIAL = 0, 1, 2, 3, 4
