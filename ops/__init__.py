"""Operator tools: the memories-ingest command line."""
