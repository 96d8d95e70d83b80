"""Torch networks: the pretrained dlib models and (later) the trainable FaceNet ones."""
