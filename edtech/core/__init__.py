"""Pure, shared building blocks: the district shape, the schema declared once, the rules every figure uses, privacy, formatting, chart theme. Imports nothing else of ours."""
