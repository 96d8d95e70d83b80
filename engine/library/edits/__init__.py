"""The user's edits and their undo journal, folders added and removed, export of names. Above reading and identities."""
