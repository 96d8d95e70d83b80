"""The photo library: SQLite store, scanning, people (clustering, recognition, edits), export."""
