"""FaceNet Desktop's PySide6 GUI: thin widgets over the engine."""
