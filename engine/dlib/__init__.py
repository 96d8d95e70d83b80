"""The dlib model files: their binary formats, where they are, and the networks they hold
(ResNet descriptor, MMOD detector) as torch modules.  Imports nothing above it."""
