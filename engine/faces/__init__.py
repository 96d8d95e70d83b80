"""From a photo file to faces: decode, detect, 5 landmarks, align, embed, and the pipeline
that runs them; the LFW verification protocol on top."""
