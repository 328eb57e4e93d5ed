"""Board materials: report assembly, PDF, slides, renewal memos, chart rendering."""
