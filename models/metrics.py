"""The fast separation metric used per epoch and by the export-option measurements (numpy only;
BSS Eval v4 lives in the quality report)."""

from __future__ import annotations

import math

import numpy as np


def sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-distortion ratio ``10 log10(|s|^2 / |s - s_hat|^2)`` over the whole signal
    (no projection)."""
    signal = float(np.sum(np.square(reference, dtype=np.float64)))
    error = float(np.sum(np.square(reference - estimate, dtype=np.float64)))
    return 10.0 * math.log10((signal + 1e-9) / (error + 1e-9))
