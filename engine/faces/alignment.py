"""Aligned face chips from 5-point landmarks, identical to dlib.get_face_chip(img, shape, 150, 0.25).

The descriptor network was trained on exactly these chips, so the arithmetic follows dlib:
a similarity from the template to the landmarks gives a rotated rectangle; the photo is first
halved with dlib's [1 4 6 4 1] pyramid while the rectangle is far bigger than the chip (so
down-sampling does not alias), then sampled bilinearly, truncated to uint8, black outside.
"""

from __future__ import annotations

import numpy as np

from engine.faces.geometry import affine_from_points, lround, rotate_about, similarity_transform

# dlib's mean positions of the 5 landmarks (two corners of each eye, nose bottom) in [0, 1].
_FIVE_POINT_TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)
CHIP_SIZE = 150
CHIP_PADDING = 0.25


def _drect_area(rect: np.ndarray) -> float:
    """dlib drectangle area: inclusive width/height (r - l + 1), zero when empty."""
    left, top, right, bottom = rect
    if top > bottom or left > right:
        return 0.0
    return (right - left + 1) * (bottom - top + 1)


def _halve_rect(rect: np.ndarray) -> np.ndarray:
    """pyramid_down<2>::rect_down: p / 2 - (1.25, 0.75) on both corners."""
    return rect / 2.0 - np.array([1.25, 0.75, 1.25, 0.75])


def pyramid_halve(image: np.ndarray) -> np.ndarray:
    """dlib pyramid_down<2> on uint8 HxWx3: [1 4 6 4 1] filter, every second row/col, // 256.

    Strided slices instead of index gathers, in uint16 (the largest sum, 16 * 16 * 255 =
    65,280, fits): 4x faster, and every value identical."""
    height, width = image.shape[:2]
    if height <= 8 or width <= 8:
        return np.zeros((0, 0, 3), dtype=np.uint8)
    img = image.astype(np.uint16)
    cols = 2 * ((width - 3) // 2)
    horizontal = img[:, 0:cols:2] + img[:, 4 : cols + 4 : 2]
    horizontal += 4 * (img[:, 1 : cols + 1 : 2] + img[:, 3 : cols + 3 : 2])
    horizontal += 6 * img[:, 2 : cols + 2 : 2]
    rows = 2 * len(range(2, height - 2, 2))
    vertical = horizontal[0:rows:2] + horizontal[4 : rows + 4 : 2]
    vertical += 4 * (horizontal[1 : rows + 1 : 2] + horizontal[3 : rows + 3 : 2])
    vertical += 6 * horizontal[2 : rows + 2 : 2]
    vertical >>= 8
    return vertical.astype(np.uint8)


def _bilinear_sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """dlib interpolate_bilinear: double weights, truncation to uint8, 0 where any of the
    four neighbours falls outside the image."""
    height, width = image.shape[:2]
    left = np.floor(xs).astype(np.int64)
    top = np.floor(ys).astype(np.int64)
    inside = (left >= 0) & (top >= 0) & (left + 1 < width) & (top + 1 < height)
    left_c = np.where(inside, left, 0)
    top_c = np.where(inside, top, 0)
    lr = (xs - left)[..., None]
    tb = (ys - top)[..., None]
    img = image.astype(np.float64)
    tl = img[top_c, left_c]
    tr = img[top_c, left_c + 1]
    bl = img[top_c + 1, left_c]
    br = img[top_c + 1, left_c + 1]
    value = (1 - tb) * ((1 - lr) * tl + lr * tr) + tb * ((1 - lr) * bl + lr * br)
    out = value.astype(np.uint8)  # truncation, values are within [0, 255]
    out[~inside] = 0
    return out


def chip_placement(landmarks: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> tuple[np.ndarray, float]:
    """The rotated rectangle (left, top, right, bottom) and angle the chip is cut from."""
    template = (padding + _FIVE_POINT_TEMPLATE) / (2 * padding + 1) * size
    matrix, offset = similarity_transform(template, np.asarray(landmarks, dtype=np.float64))
    direction = matrix @ np.array([1.0, 0.0])
    angle = float(np.arctan2(direction[1], direction[0]))
    scale = float(np.hypot(direction[0], direction[1]))
    center = matrix @ np.array([size / 2.0, size / 2.0]) + offset
    half_w = (size * scale - 1) / 2
    half_h = (size * scale - 1) / 2
    rect = np.array([center[0] - half_w, center[1] - half_h, center[0] + half_w, center[1] + half_h])
    return rect, angle


def _corners(rect: np.ndarray) -> np.ndarray:
    left, top, right, bottom = rect
    return np.array([[left, top], [right, top], [left, bottom], [right, bottom]])


def extract_face_chip(image: np.ndarray, landmarks: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """One size x size x 3 uint8 chip from an RGB uint8 image and (5, 2) integer landmarks."""
    rect, angle = chip_placement(landmarks, size, padding)
    chip_area = size * size
    height, width = image.shape[:2]

    # How deep a pyramid is needed, and which part of the photo it must cover.
    depth, grow = 0, 2.0
    level_rect = _halve_rect(rect)
    while _drect_area(level_rect) > chip_area:
        level_rect = _halve_rect(level_rect)
        depth += 1
        grow = grow * 2 + 2
    center = np.array([(rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2])
    rotated = rotate_about(center, _corners(rect), angle)
    bbox = np.array(
        [rotated[:, 0].min() - grow, rotated[:, 1].min() - grow, rotated[:, 0].max() + grow, rotated[:, 1].max() + grow]
    )
    bbox = np.array([max(bbox[0], 0), max(bbox[1], 0), min(bbox[2], width - 1), min(bbox[3], height - 1)])
    if bbox[0] > bbox[2] or bbox[1] > bbox[3]:
        return np.zeros((size, size, 3), dtype=np.uint8)  # the face lies entirely outside
    crop_box = lround(bbox)
    source = image[crop_box[1] : crop_box[3] + 1, crop_box[0] : crop_box[2] + 1]

    levels = []
    if depth > 0:
        levels.append(pyramid_halve(source))
        for _ in range(1, depth):
            levels.append(pyramid_halve(levels[-1]))

    level = -1
    local = rect - np.array([crop_box[0], crop_box[1], crop_box[0], crop_box[1]], dtype=np.float64)
    while _drect_area(_halve_rect(local)) > chip_area:
        level += 1
        local = _halve_rect(local)
    sample_from = source if level == -1 else levels[level]

    local_center = np.array([(local[0] + local[2]) / 2, (local[1] + local[3]) / 2])
    targets = rotate_about(local_center, _corners(local)[:3], angle)  # tl, tr, bl
    chip_corners = np.array([[0.0, 0.0], [size - 1.0, 0.0], [0.0, size - 1.0]])
    matrix, offset = affine_from_points(chip_corners, targets)
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float64)
    xs = matrix[0, 0] * grid_x + matrix[0, 1] * grid_y + offset[0]
    ys = matrix[1, 0] * grid_x + matrix[1, 1] * grid_y + offset[1]
    if sample_from.size == 0:
        return np.zeros((size, size, 3), dtype=np.uint8)
    return _bilinear_sample(sample_from, xs, ys)


def extract_face_chips(image: np.ndarray, landmarks: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """(N, size, size, 3) uint8 chips for (N, 5, 2) landmarks."""
    landmarks = np.asarray(landmarks).reshape(-1, 5, 2)
    chips = np.zeros((landmarks.shape[0], size, size, 3), dtype=np.uint8)
    for i, points in enumerate(landmarks):
        chips[i] = extract_face_chip(image, points, size, padding)
    return chips


# The landmarks' centre in every chip: the point extra views turn about.
LANDMARKS_CENTRE = (CHIP_PADDING + _FIVE_POINT_TEMPLATE.mean(axis=0)) / (2 * CHIP_PADDING + 1) * CHIP_SIZE
_rotation_samples: dict[tuple[float, int], tuple[np.ndarray, ...]] = {}


def _rotation_grid(degrees: float, size: int) -> tuple[np.ndarray, ...]:
    """Flat neighbour indices and bilinear weights of a chip turned by `degrees` about
    LANDMARKS_CENTRE; the same for every chip, so computed once per angle."""
    key = (float(degrees), size)
    if key not in _rotation_samples:
        theta = np.deg2rad(degrees)
        centre = LANDMARKS_CENTRE * size / CHIP_SIZE
        grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float64)
        dx, dy = grid_x - centre[0], grid_y - centre[1]
        # Sample at the inverse rotation; clamp to the edge (replicate) instead of black wedges.
        xs = np.clip(np.cos(theta) * dx + np.sin(theta) * dy + centre[0], 0, size - 1)
        ys = np.clip(-np.sin(theta) * dx + np.cos(theta) * dy + centre[1], 0, size - 1)
        left = np.minimum(np.floor(xs), size - 2).astype(np.int64)  # the last column: weight 1 on the right
        top = np.minimum(np.floor(ys), size - 2).astype(np.int64)
        lr, tb = (xs - left).ravel()[:, None], (ys - top).ravel()[:, None]
        first = (top * size + left).ravel()
        _rotation_samples[key] = (first, first + 1, first + size, first + size + 1,
                                  (1 - tb) * (1 - lr), (1 - tb) * lr, tb * (1 - lr), tb * lr)
    return _rotation_samples[key]


def rotate_chips(chips: np.ndarray, degrees: float) -> np.ndarray:
    """(N, size, size, 3) uint8 chips turned by `degrees` about the landmarks' centre: the
    face as if its landmarks had been found turned (an extra view for the embedding), from
    the chip alone, so every stored face can be embedded again without its photo.  Bilinear,
    truncated to uint8 like the chips themselves; pixels from beyond the chip repeat its edge."""
    chips = np.asarray(chips)
    count, size = chips.shape[0], chips.shape[1]
    tl, tr, bl, br, w_tl, w_tr, w_bl, w_br = _rotation_grid(degrees, size)
    flat = chips.reshape(count, size * size, 3)
    value = w_tl * flat[:, tl]
    value += w_tr * flat[:, tr]
    bottom = w_bl * flat[:, bl]
    bottom += w_br * flat[:, br]
    value += bottom
    return value.astype(np.uint8).reshape(chips.shape)


def chip_views(chips: np.ndarray, rotations: tuple[float, ...] = (), mirror: bool = True) -> list[np.ndarray]:
    """A model version's views of each chip, in the order every embedding averages them: the
    chip, the chip turned by each angle, then (with `mirror`) the mirror image of each."""
    views = [chips, *(rotate_chips(chips, angle) for angle in rotations)]
    return (views + [view[:, :, ::-1] for view in views]) if mirror else views


def combine_views(vectors: np.ndarray) -> np.ndarray:
    """(views, N, D) descriptors of the views of N faces -> (N, D): 2 x the mean of their
    unit vectors (for chip + mirror exactly their sum, as dlib-resnet-v1 always stored).
    The one place the app's view recipe is written: scans, fine-tuning and its evaluation."""
    vectors = np.asarray(vectors, dtype=np.float32)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=2, keepdims=True), 1e-12)
    return (unit.sum(axis=0) * (2.0 / len(vectors))).astype(np.float32)
