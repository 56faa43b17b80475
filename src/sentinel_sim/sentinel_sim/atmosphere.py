"""Constants of the simulator's fog model, apart from the renderer.

Why a module of its own: dataset labelling decides whether fog hides an object
with the same extinction the renderer uses, and tools that only read datasets
(training on a machine without MuJoCo) must not import the renderer to get it.
"""

from __future__ import annotations

import numpy as np

FOG_EXTINCTION = 0.2                       # 1/m at density 1 (Koschmieder: ~20 m visibility)
FOG_RGB = np.array([178.0, 180.0, 184.0])  # 0..255, the grey that fog blends toward
