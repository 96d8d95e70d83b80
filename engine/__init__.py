"""FaceNet Desktop's headless engine: everything but the GUI. Never imports Qt."""

__version__ = "0.1.0"
