"""One photo with its faces' boxes and names: zoom, a box drawn by hand, the file's date,
its folder and path.  Thin, like every page."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QGuiApplication, QKeySequence, QPen, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.library.reading.browse import FaceTile
from engine.library.storage.assignments import Assignment
from engine.user_files import printable_path
from facenet_desktop.grid import page_keys


def label_position(box: tuple[float, float, float, float], label: tuple[float, float],
                   image: tuple[float, float]) -> tuple[float, float]:
    """Where a face's name goes: under its box, left-aligned, but moved inside the photo where
    the box touches the right or bottom edge (the scene shows only the photo)."""
    x1, _, _, y2 = box
    width, height = label
    x = max(4.0, min(x1 + 4, image[0] - width - 4))
    y = max(1.0, min(y2 + 2, image[1] - height - 1))
    return x, y


BOX_COLOURS = {Assignment.MANUAL: "#2e9e44", Assignment.AUTO: "#e0a020", Assignment.SUGGESTED: "#e0a020", None: "#9ca3af"}
LEGEND = ("Boxes: <span style='color:#2e9e44'>■</span> named by you &nbsp; "
          "<span style='color:#e0a020'>■</span> grouped or suggested by the app &nbsp; "
          "<span style='color:#9ca3af'>■</span> in no group yet")
ZOOM_STEP = 1.25


class PhotoView(QGraphicsView):
    """The photo with its face boxes; click a box to act on it, drag to draw a new one.  Names
    keep their size on screen whatever the photo's size and zoom (Ctrl+wheel, + and -, 0 fits)."""

    face_clicked = Signal(int)
    box_drawn = Signal(tuple)  # (x1, y1, x2, y2) in photo pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.scale_factor = 1.0
        self.zoom = 1.0  # times the fitted size
        self._start: QPointF | None = None
        self._rubber: QGraphicsRectItem | None = None
        self.boxes: dict[int, QGraphicsRectItem] = {}
        self.labels: list[tuple[QGraphicsRectItem, tuple[float, float, float, float]]] = []  # backdrop, box

    def show_photo(self, pixmap: QPixmap, scale: float, faces: list[FaceTile]) -> None:
        """`scale`: pixmap pixels per photo pixel."""
        scene = self.scene()
        scene.clear()
        self.boxes, self.labels = {}, []
        self.scale_factor = scale
        self.zoom = 1.0
        scene.addPixmap(pixmap)
        scene.setSceneRect(QRectF(pixmap.rect()))
        for face in faces:
            x1, y1, x2, y2 = (v * scale for v in face.box)
            colour = QColor(BOX_COLOURS.get(face.assignment if face.person_id is not None else None, "#e0a020"))
            pen = QPen(colour, 2)
            pen.setCosmetic(True)  # the same width on screen at any zoom
            item = scene.addRect(QRectF(x1, y1, x2 - x1, y2 - y1), pen)
            item.setData(0, face.id)
            self.boxes[face.id] = item
            text = face.person_name or ("Unnamed" if face.person_id is not None else "Unknown")
            label = QGraphicsSimpleTextItem(text)
            label.setBrush(QBrush(QColor("white")))
            size = label.boundingRect()
            backdrop = QGraphicsRectItem(size.adjusted(-4, -1, 4, 1))
            backdrop.setPen(QPen(Qt.PenStyle.NoPen))
            backdrop.setBrush(QBrush(QColor(0, 0, 0, 160)))
            backdrop.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
            backdrop.setZValue(1)
            label.setParentItem(backdrop)
            scene.addItem(backdrop)
            self.labels.append((backdrop, (x1, y1, x2, y2)))
        self._fit()

    def _fit(self) -> None:
        self.resetTransform()
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom != 1.0:
            self.scale(self.zoom, self.zoom)
        self._place_labels()

    def _place_labels(self) -> None:
        """Under each box, inside the photo: the label's screen size in scene units at this zoom."""
        pixels_per_unit = self.transform().m11() or 1.0
        photo = self.scene().sceneRect()
        for backdrop, box in self.labels:
            size = backdrop.rect()
            x, y = label_position(box, (size.width() / pixels_per_unit, size.height() / pixels_per_unit),
                                  (photo.width(), photo.height()))
            backdrop.setPos(x, y)

    def set_zoom(self, zoom: float) -> None:
        self.zoom = min(max(zoom, 1.0), 16.0)
        self._fit()

    def label_rects(self) -> list[QRectF]:
        """Where the names are, in photo (scene) units at this zoom: they ignore the view's scale."""
        pixels_per_unit = self.transform().m11() or 1.0
        return [QRectF(backdrop.pos() + backdrop.rect().topLeft() / pixels_per_unit, backdrop.rect().size() / pixels_per_unit)
                for backdrop, _ in self.labels]

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802
        super().resizeEvent(event)
        self._fit()

    def wheelEvent(self, event) -> None:  # noqa: ANN001, N802
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_zoom(self.zoom * (ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP))
        else:
            super().wheelEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: ANN001, N802
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.set_zoom(self.zoom * ZOOM_STEP)
        elif key == Qt.Key.Key_Minus:
            self.set_zoom(self.zoom / ZOOM_STEP)
        elif key == Qt.Key.Key_0:
            self.set_zoom(1.0)
        else:
            super().keyPressEvent(event)  # arrows go to the page (next / previous photo)
            event.ignore()

    def mousePressEvent(self, event) -> None:  # noqa: ANN001, N802
        point = self.mapToScene(event.position().toPoint())
        for face_id, item in self.boxes.items():
            if item.rect().contains(point):
                self.face_clicked.emit(face_id)
                return
        self._start = point
        self._rubber = self.scene().addRect(QRectF(point, point), QPen(QColor("#3b82f6"), 2, Qt.PenStyle.DashLine))

    def mouseMoveEvent(self, event) -> None:  # noqa: ANN001, N802
        if self._start is not None and self._rubber is not None:
            self._rubber.setRect(QRectF(self._start, self.mapToScene(event.position().toPoint())).normalized())

    def mouseReleaseEvent(self, event) -> None:  # noqa: ANN001, N802
        if self._start is None or self._rubber is None:
            return
        rect = self._rubber.rect()
        self.scene().removeItem(self._rubber)
        self._start, self._rubber = None, None
        if rect.width() >= 8 and rect.height() >= 8:
            s = self.scale_factor
            self.box_drawn.emit((rect.left() / s, rect.top() / s, rect.right() / s, rect.bottom() / s))


class PhotoPage(QWidget):
    back = Signal()
    step = Signal(int)  # -1: the previous photo, +1: the next one (arrow keys)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.photo_id: int | None = None
        self.back_button = QPushButton("← Back", self)
        self.back_button.clicked.connect(self.back)
        self.previous_button = QPushButton("◀", self)
        self.previous_button.setToolTip("Previous photo (Left arrow)")
        self.previous_button.clicked.connect(lambda: self.step.emit(-1))
        self.next_button = QPushButton("▶", self)
        self.next_button.setToolTip("Next photo (Right arrow)")
        self.next_button.clicked.connect(lambda: self.step.emit(1))
        self.title = QLabel(self)
        self.position = QLabel(self)
        self.path = ""
        self.taken = QLabel(self)
        self.open_folder_button = QPushButton("Open folder", self)
        self.open_folder_button.setToolTip("Show this photo's folder in the file manager")
        self.open_folder_button.clicked.connect(self.open_folder)
        self.copy_path_button = QPushButton("Copy path", self)
        self.copy_path_button.setToolTip("Copy where this photo is, to paste it elsewhere")
        self.copy_path_button.clicked.connect(self.copy_path)
        self.told = QLabel(self)
        self.hint = QLabel("Click a face to name or move it; drag a box around a face the scan missed; "
                           "Ctrl+wheel or + and - zoom.", self)
        self.legend = QLabel(LEGEND, self)
        self.view = PhotoView(self)
        QShortcut(QKeySequence(Qt.Key.Key_Left), self, lambda: self.step.emit(-1))
        QShortcut(QKeySequence(Qt.Key.Key_Right), self, lambda: self.step.emit(1))
        self.back_button.setToolTip("Back (Esc)")
        page_keys(self, [(Qt.Key.Key_Escape, self.back.emit), (QKeySequence.StandardKey.Back, self.back.emit),
                         (Qt.Key.Key_Backspace, self.back.emit)])
        top = QHBoxLayout()
        top.addWidget(self.back_button)
        top.addWidget(self.previous_button)
        top.addWidget(self.next_button)
        top.addWidget(self.title, 1)
        top.addWidget(self.position)
        about = QHBoxLayout()
        about.addWidget(self.taken)
        about.addWidget(self.told, 1)
        about.addWidget(self.open_folder_button)
        about.addWidget(self.copy_path_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(about)
        layout.addWidget(self.hint)
        layout.addWidget(self.view)
        layout.addWidget(self.legend)

    def set_file(self, path: str, taken: str | None) -> None:
        """The photo's file and when it was taken, for the line under the title."""
        self.path = path
        self.taken.setText(taken or "")
        self.told.setText("")

    def open_folder(self) -> None:
        folder = str(Path(self.path).parent)
        opened = QDesktopServices.openUrl(QUrl.fromLocalFile(folder))
        self.told.setText(f"Opened {printable_path(folder)}" if opened else
                          f"No file manager answered; the folder is {printable_path(folder)}")

    def copy_path(self) -> None:
        QGuiApplication.clipboard().setText(printable_path(self.path))
        self.told.setText("Path copied")

    def set_position(self, index: int | None, total: int) -> None:
        """Where this photo is in the list it was opened from ("3 of 12"), if any."""
        self.position.setText(f"{index + 1} of {total}" if index is not None and total > 1 else "")
        self.previous_button.setEnabled(index is not None and index > 0)
        self.next_button.setEnabled(index is not None and index + 1 < total)
