"""Reads for the views and the command line: people, browsing, the timeline. Never writes; beside identities, above storage."""
