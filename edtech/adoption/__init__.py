"""School adoption, equity of access, the district overview, and their charts."""
