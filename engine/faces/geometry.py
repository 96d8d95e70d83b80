"""Small 2-D transforms used by landmarks and alignment, in double precision like dlib."""

from __future__ import annotations

import numpy as np


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src onto dst
    (Umeyama 1991).  Returns (M, t) with dst ~ M @ src + t."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    count = src.shape[0]
    mean_src, mean_dst = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - mean_src, dst - mean_dst
    sigma_src = float((src_c**2).sum()) / count
    cov = dst_c.T @ src_c / count
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    det_cov = np.linalg.det(cov)
    if det_cov < 0 or (det_cov == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        if d[1] < d[0]:
            s[1, 1] = -1
        else:
            s[0, 0] = -1
    rotation = u @ s @ vt
    scale = float(np.trace(np.diag(d) @ s)) / sigma_src if sigma_src != 0 else 1.0
    matrix = scale * rotation
    return matrix, mean_dst - matrix @ mean_src


def affine_from_points(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares affine (M, t) with dst ~ M @ src + t (exact for three points)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    p = np.vstack([src.T, np.ones(src.shape[0])])  # 3 x n
    m = dst.T @ np.linalg.pinv(p)  # 2 x 3
    return m[:, :2], m[:, 2]


def rotate_about(center: np.ndarray, points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    rel = np.asarray(points, dtype=np.float64) - center
    return np.stack([c * rel[..., 0] - s * rel[..., 1], s * rel[..., 0] + c * rel[..., 1]], axis=-1) + center


def lround(values: np.ndarray | float) -> np.ndarray:
    """C's lround: halves go away from zero (numpy's round goes to even)."""
    values = np.asarray(values, dtype=np.float64)
    return (np.sign(values) * np.floor(np.abs(values) + 0.5)).astype(np.int64)
