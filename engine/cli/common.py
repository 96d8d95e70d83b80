"""What every `facenet` command shares: exit codes, the library and pipeline options, a
progress bar, Ctrl-C handling."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from collections.abc import Callable

from engine.jobs import CancelToken, Progress
from engine.wording import printable_text

EXIT_OK, EXIT_ERROR = 0, 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT: stopped by Ctrl-C, what was done is kept
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what shell tools return when the reader went away


def library_options(quiet: bool = False) -> argparse.ArgumentParser:
    """A parent parser with --db (and --quiet for commands that show a progress bar)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--db", type=Path, default=None, metavar="PATH",
                         help="library database (default: $FACENET_DB or the user data folder)")
    if quiet:
        options.add_argument("--quiet", action="store_true", help="no progress bar")
    return options


def add_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None, metavar="FILE",
                        help="a trained model file (facenet train), an Inception-ResNet-v1 state dict, "
                             "or a built-in version's name (dlib-resnet-v1, dlib-resnet-v1-views6; default the newest)")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def open_library(args: argparse.Namespace, writes: bool = False, create: bool = False):  # noqa: ANN201 - the store loads only when a command needs it
    """The library at --db.  Only `create` (a scan) makes a new one, and says so; a command
    that `writes` first checks the file is undamaged (a damaged one refuses, in one line)."""
    from engine.library.storage.store import Library

    library = Library(args.db, create=create)
    if library.created:
        print(f"Made a new library at {library.path}", file=sys.stderr)
    if writes:
        try:
            library.check_integrity()
        except BaseException:
            library.close()
            raise
    return library


def pipeline_factory(args: argparse.Namespace, library=None):  # noqa: ANN001, ANN201 - heavy imports kept lazy
    """A function that builds the pipeline the detection options ask for, embedding with
    --model if given, else with the library's active model version; models load only when
    it is called."""
    from engine.model_versions import MODEL_VERSIONS
    from engine.faces.pipeline import DetectionSettings, FacePipeline

    quick = args.quick_megapixels if args.quick_megapixels > 0 else None
    settings = DetectionSettings(min_face_px=args.min_face, max_detect_megapixels=args.max_megapixels, quick_megapixels=quick)

    def build() -> FacePipeline:
        embedder = None
        model = getattr(args, "model", None)
        if model is not None and str(model) in MODEL_VERSIONS:  # a built-in version by name
            return FacePipeline(settings, model_version=MODEL_VERSIONS[str(model)])
        if model:
            from engine.training.model_file import ModelFileEmbedder, load_model_file

            embedder = ModelFileEmbedder(load_model_file(args.model))
        elif library is not None:
            from engine.library.storage.model_registry import pipeline_for

            return pipeline_for(library, settings=settings)
        return FacePipeline(settings, embedder=embedder)

    return build


class ProgressBar:
    """tqdm bar that follows the job's phases (it shows rate and ETA)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        self.phase = None

    def __call__(self, progress: Progress) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if progress.phase != self.phase:
            self.close()
            self.phase = progress.phase
            self.bar = tqdm(total=progress.total, desc=progress.phase, unit="photo", file=sys.stderr, dynamic_ncols=True)
        if self.bar.total != progress.total:
            self.bar.total = progress.total
        self.bar.n = progress.done
        if progress.phase == "training" and progress.item:
            self.bar.set_postfix_str(progress.item, refresh=False)  # loss and active triplets
        self.bar.refresh()

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cancel_on_ctrl_c() -> CancelToken:
    """First Ctrl-C: finish the photo in hand, commit, stop.  Second: stop at once."""
    token = CancelToken()

    def handler(signum, frame) -> None:  # noqa: ANN001
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel()
        print("\nstopping after the current photo (Ctrl-C again to abort)...", file=sys.stderr)

    signal.signal(signal.SIGINT, handler)
    return token


def run_edit(args: argparse.Namespace, action) -> int:  # noqa: ANN001
    """Open the library for writing, run the edit, print what it said (names printed safely)."""
    with open_library(args, writes=True) as library:
        message = action(library)
    if message:
        print(printable_text(message))
    return EXIT_OK


def described(edit) -> Callable:  # noqa: ANN001
    """Run an edit and answer with its description in plain words."""
    from engine.library.edits import editing

    def action(library) -> str:  # noqa: ANN001
        edit(library)
        return editing.last_edit(library) or ""

    return action
