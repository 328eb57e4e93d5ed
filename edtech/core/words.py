"""Yes/no vocabulary of the data contract ("true/false, yes/no, y/n, 1/0, t/f, any case"), defined once."""

TRUE_WORDS = frozenset({"true", "yes", "y", "1", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "f"})
