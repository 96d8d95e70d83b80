"""The photo library, in layers (each imports only the layers below it; import-linter checks):

- `jobs`: long jobs with progress and cancel (scan, fine-tune, model switch, the task list);
- `questions`: what the app asks the user (group questions, pages of faces, the fine-tune offer);
- `edits`: the user's edits and their undo journal, folders, export;
- `reading` (people, browsing, the timeline) beside `identities` (clustering, recognition,
  the labelled faces a fine-tune learns from);
- `storage`: the SQLite store and what is kept in it.
"""
