"""Vector helpers shared by stages: columns of vectors as matrices, unit centroids."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.preprocessing import normalize


def stack(vectors: pd.Series) -> np.ndarray:
    """A column of vectors as a float32 matrix `(N, dim)`."""
    if len(vectors) == 0:
        return np.zeros((0, 0), np.float32)
    return np.stack([np.asarray(v, np.float32) for v in vectors])


def unit_centroids(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One L2-normalised mean vector per label 0..K-1."""
    return normalize(np.stack([vectors[labels == j].mean(axis=0) for j in range(labels.max() + 1)]))
