"""Who is who: clustering, recognition, the labelled faces a fine-tune learns from, and the rule that a pass never writes over the user's edit. Above storage."""
