"""Training face embeddings with the FaceNet triplet loss (Schroff et al., 2015)."""

# The networks `facenet train --arch` can build (engine.training.models builds them).  Here,
# not there: the command line lists them without loading torch.
ARCHITECTURES = ("inception", "resnet", "inception-resnet-v1")
