"""Preview grids: a few images with their labels drawn, to check a dataset by eye.

Labels are drawn in their class colour, ignore regions as dotted grey boxes,
pre-labels (predictions) with their confidence. Rectangles are drawn with
numpy; class names are written with Pillow when it is installed (it comes
with the train extra), else the colours alone tell the classes (legend in
docs/models.md: person red, vehicle blue, drone yellow).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sentinel_models.png import write_png
from sentinel_models.yolo_format import PixelBox

_LOG = logging.getLogger(__name__)

# Class colours (RGB) by class index: person red, vehicle blue, drone yellow, then more.
CLASS_COLOURS = ((230, 40, 40), (40, 110, 240), (250, 210, 30), (40, 200, 90), (200, 60, 220))
# Colour of ignore regions.
IGNORE_COLOUR = (160, 160, 160)
# Pixels between tiles and around the grid.
TILE_GAP = 4
# Line width of boxes (px).
LINE_WIDTH = 1
# Period of the dotted line of ignore regions (px on, px off).
DOT_PERIOD = 4


@dataclass(frozen=True)
class PreviewTile:
    image: np.ndarray                     # (h, w, 3) uint8
    labels: Sequence[PixelBox]
    ignored: Sequence[PixelBox] = ()
    confidences: Sequence[float] | None = None  # per label, for pre-labels
    caption: str = ''


def colour_of(class_id: int) -> tuple[int, int, int]:
    return CLASS_COLOURS[class_id % len(CLASS_COLOURS)]


def draw_box(image: np.ndarray, box: PixelBox, colour: tuple[int, int, int],
             dotted: bool = False) -> None:
    """Draw ``box``'s outline into ``image`` in place."""
    h, w = image.shape[:2]
    x0 = int(np.clip(np.floor(box.x_min), 0, w - 1))
    x1 = int(np.clip(np.ceil(box.x_max) - 1, 0, w - 1))
    y0 = int(np.clip(np.floor(box.y_min), 0, h - 1))
    y1 = int(np.clip(np.ceil(box.y_max) - 1, 0, h - 1))
    for t in range(LINE_WIDTH):
        for xs, ys in (((x0, x1 + 1), (y0 + t, y0 + t + 1)), ((x0, x1 + 1), (y1 - t, y1 - t + 1)),
                       ((x0 + t, x0 + t + 1), (y0, y1 + 1)), ((x1 - t, x1 - t + 1), (y0, y1 + 1))):
            region = image[ys[0]:ys[1], xs[0]:xs[1]]
            if dotted:
                mask = ((np.add.outer(np.arange(region.shape[0]), np.arange(region.shape[1]))
                         // (DOT_PERIOD // 2)) % 2 == 0)
                region[mask] = colour
            else:
                region[...] = colour


def _tile(tile: PreviewTile, names: Sequence[str]) -> np.ndarray:
    image = np.ascontiguousarray(tile.image.copy())
    for box in tile.ignored:
        draw_box(image, box, IGNORE_COLOUR, dotted=True)
    for box in tile.labels:
        draw_box(image, box, colour_of(box.class_id))
    return image


def _write_text(grid: np.ndarray,
                texts: list[tuple[int, int, str, tuple[int, int, int]]]) -> np.ndarray:
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        _LOG.info('Pillow is not installed: the preview shows classes by colour only')
        return grid
    picture = Image.fromarray(grid)
    draw = ImageDraw.Draw(picture)
    for x, y, text, colour in texts:
        draw.text((x + 1, y + 1), text, fill=(0, 0, 0))
        draw.text((x, y), text, fill=colour)
    return np.asarray(picture)


def render_grid(tiles: Sequence[PreviewTile], names: Sequence[str], columns: int = 4) -> np.ndarray:
    """The tiles in a grid (tiles may differ in size; each cell is the largest size)."""
    if not tiles:
        raise ValueError('a preview needs at least one image')
    cell_h = max(t.image.shape[0] for t in tiles)
    cell_w = max(t.image.shape[1] for t in tiles)
    columns = max(1, min(columns, len(tiles)))
    rows = (len(tiles) + columns - 1) // columns
    legend_h = 14
    grid = np.full((legend_h + rows * (cell_h + TILE_GAP) + TILE_GAP,
                    columns * (cell_w + TILE_GAP) + TILE_GAP, 3), 24, dtype=np.uint8)
    texts: list[tuple[int, int, str, tuple[int, int, int]]] = []
    x = TILE_GAP
    for class_id, name in enumerate(names):
        grid[3:11, x:x + 8] = colour_of(class_id)
        texts.append((x + 11, 1, name, (255, 255, 255)))
        x += 11 + 7 * len(name) + 10
    grid[3:11, x:x + 8] = IGNORE_COLOUR
    texts.append((x + 11, 1, 'ignored', (255, 255, 255)))
    for index, tile in enumerate(tiles):
        r, c = divmod(index, columns)
        top = legend_h + TILE_GAP + r * (cell_h + TILE_GAP)
        left = TILE_GAP + c * (cell_w + TILE_GAP)
        drawn = _tile(tile, names)
        grid[top:top + drawn.shape[0], left:left + drawn.shape[1]] = drawn
        for i, box in enumerate(tile.labels):
            text = names[box.class_id] if box.class_id < len(names) else str(box.class_id)
            if tile.confidences is not None:
                text += f' {tile.confidences[i]:.2f}'
            texts.append((left + int(box.x_min), top + max(0, int(box.y_min) - 11), text,
                          colour_of(box.class_id)))
        if tile.caption:
            texts.append((left + 2, top + drawn.shape[0] - 12, tile.caption, (255, 255, 255)))
    return _write_text(grid, texts)


def write_preview(path: Path, tiles: Sequence[PreviewTile], names: Sequence[str],
                  columns: int = 4) -> None:
    """Render the grid and save it as PNG."""
    write_png(path, render_grid(tiles, names, columns))
