"""Training face embeddings with the FaceNet triplet loss (Schroff et al., 2015)."""
