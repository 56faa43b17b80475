"""Camera imperfections applied to rendered frames: tone, colour cast, blur, sensor noise.

Why: a flat-shaded software render is cleaner than any real camera; a detector
trained only on clean frames fails on the first hazy, grainy or soft image.
These effects widen the training distribution cheaply. Fog, night and
blackout are the simulator's own (``sentinel_sim.rendering.CameraEffects``);
the ones here are what the simulator leaves out. Pure numpy, deterministic
for a given generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Gaussian kernel half-width in standard deviations (3 sigma keeps 99.7 % of the weight).
KERNEL_SIGMAS = 3.0


@dataclass(frozen=True)
class ImageEffects:
    """Post-render effects of one frame."""

    gain: float = 1.0                              # contrast multiplier around mid-grey
    bias: float = 0.0                              # 0..255 brightness offset
    gamma: float = 1.0                             # > 1 darkens mid-tones
    colour_cast: tuple[float, float, float] = (1.0, 1.0, 1.0)  # per-channel white balance error
    blur_sigma: float = 0.0                        # px, Gaussian (defocus, motion at low speed)
    noise_sigma: float = 0.0                       # 0..255, Gaussian sensor noise

    def __post_init__(self) -> None:
        values = (self.gain, self.bias, self.gamma, self.blur_sigma, self.noise_sigma,
                  *self.colour_cast)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f'ImageEffects values must be finite: {self}')
        if self.gain <= 0.0 or self.gamma <= 0.0 or self.blur_sigma < 0.0 or self.noise_sigma < 0.0:
            raise ValueError(f'ImageEffects: gain and gamma must be > 0, blur and noise >= 0: {self}')


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian kernel (a single 1 for sigma 0)."""
    if sigma <= 0.0:
        return np.ones(1)
    radius = max(1, int(math.ceil(KERNEL_SIGMAS * sigma)))
    x = np.arange(-radius, radius + 1, dtype=float)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    normalised: np.ndarray = kernel / kernel.sum()
    return normalised


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an (h, w, c) float image, edges replicated."""
    kernel = gaussian_kernel(sigma).astype(np.float32)
    if kernel.size == 1:
        return image
    radius = kernel.size // 2
    padded = np.pad(image, ((radius, radius), (0, 0), (0, 0)), mode='edge')
    out = sum(kernel[i] * padded[i:i + image.shape[0]] for i in range(kernel.size))
    padded = np.pad(np.asarray(out), ((0, 0), (radius, radius), (0, 0)), mode='edge')
    result: np.ndarray = sum(kernel[i] * padded[:, i:i + image.shape[1]]  # type: ignore[assignment]
                             for i in range(kernel.size))
    return result


def tone_table(effects: ImageEffects) -> np.ndarray:
    """(3, 256) uint8 lookup table of gain, bias, colour cast and gamma per channel."""
    values = np.arange(256, dtype=np.float64)
    toned = (values - 127.5) * effects.gain + 127.5 + effects.bias
    table = np.clip(toned[None, :] * np.asarray(effects.colour_cast)[:, None], 0.0, 255.0)
    if effects.gamma != 1.0:
        table = 255.0 * (table / 255.0) ** effects.gamma
    result: np.ndarray = np.clip(np.rint(table), 0, 255).astype(np.uint8)
    return result


def apply_effects(image: np.ndarray, effects: ImageEffects, rng: np.random.Generator) -> np.ndarray:
    """``image`` (h, w, 3 uint8) with ``effects`` applied; noise drawn from ``rng``.

    Tone and colour go through a per-channel lookup table (one pass over the
    pixels); blur and noise work in float only when asked for.
    """
    table = tone_table(effects)
    out = np.stack([table[c][image[..., c]] for c in range(3)], axis=-1)
    if effects.blur_sigma <= 0.0 and effects.noise_sigma <= 0.0:
        return out
    work = out.astype(np.float32)
    if effects.blur_sigma > 0.0:
        work = blur(work, effects.blur_sigma)
    if effects.noise_sigma > 0.0:
        work += rng.standard_normal(work.shape, dtype=np.float32) * np.float32(effects.noise_sigma)
    return np.clip(np.rint(work), 0, 255).astype(np.uint8)
