"""A labelled grid of images, for looking at corruptions (and later restorations) by eye."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from image_core.corruptions import SEVERITIES, corrupt, corruption_names

__all__ = ["image_grid", "corruption_gallery"]


def image_grid(
    rows: Sequence[Sequence[np.ndarray]], row_labels: Sequence[str], column_labels: Sequence[str], tile: int = 128
) -> np.ndarray:
    """Tile images into a grid with a label column on the left and a header row.

    Args:
        rows: ``rows[i][j]`` is an (H, W, 3) uint8 image; every row has ``len(column_labels)`` images.
        row_labels, column_labels: text drawn left of each row and above each column.
        tile: each image is resized to ``tile`` x ``tile``.

    Returns:
        (H, W, 3) uint8 image of the whole grid.
    """
    font = ImageFont.load_default(size=max(10, tile // 10))
    label_width = max(int(font.getlength(label)) for label in row_labels) + 16
    header, gap = tile // 5, 2
    width = label_width + len(column_labels) * (tile + gap)
    height = header + len(rows) * (tile + gap)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for j, label in enumerate(column_labels):
        x = label_width + j * (tile + gap) + tile // 2
        draw.text((x, header // 2), label, fill=(0, 0, 0), font=font, anchor="mm")
    for i, (label, images) in enumerate(zip(row_labels, rows)):
        y = header + i * (tile + gap)
        draw.text((8, y + tile // 2), label, fill=(0, 0, 0), font=font, anchor="lm")
        for j, image in enumerate(images):
            resized = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_AREA)
            canvas.paste(Image.fromarray(resized), (label_width + j * (tile + gap), y))
    return np.asarray(canvas)


def corruption_gallery(
    image: np.ndarray, names: Sequence[str] | None = None, seed: int = 0, tile: int = 128
) -> np.ndarray:
    """Grid of ``image`` under every corruption (rows) at every severity (columns), clean first."""
    names = list(names or corruption_names())
    rows = [[image] + [corrupt(image, name, severity, rng=seed) for severity in SEVERITIES] for name in names]
    columns = ["clean"] + [f"severity {s}" for s in SEVERITIES]
    return image_grid(rows, names, columns, tile=tile)
