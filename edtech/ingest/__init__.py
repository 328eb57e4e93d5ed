"""Bytes to typed frames plus issues: file formats, the data contract, parsing, validation, adapters."""
