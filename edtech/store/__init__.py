"""The database: engine, SQLModel tables, importer, summaries and repositories."""
