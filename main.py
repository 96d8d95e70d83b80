"""Start the FaceNet Desktop GUI: `python main.py`."""

import sys

from facenet_desktop.app import main

if __name__ == "__main__":
    sys.exit(main())
