"""What the app asks the user: group questions, pages of faces, the fine-tune offer. Above edits (an answer is an edit)."""
