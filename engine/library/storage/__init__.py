"""The SQLite store and what is kept in it: schema, faces and their embeddings, assignments, covers, model versions and preferences, folders and files on disk. Bottom layer."""
