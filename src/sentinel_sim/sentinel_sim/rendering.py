"""Headless camera images of a :class:`~sentinel_sim.physics.PhysicsWorld`.

Why: the perception stack needs the images Gazebo would publish for every
pole, drone and rover camera, on machines with no display and no GPU.
MuJoCo's ``mujoco.Renderer`` draws offscreen through EGL; on these machines
Mesa's software rasteriser (llvmpipe) does the work.

``MUJOCO_GL`` selects MuJoCo's GL backend, and MuJoCo reads it once, when it
is first imported. This module and ``physics`` set it to ``egl`` when it is
unset (``osmesa`` failed on these machines, ``glfw`` needs a display). If
something imported ``mujoco`` earlier (a test session importing it first),
the renderer still switches ``mujoco.Renderer`` to MuJoCo's EGL context class
as long as ``MUJOCO_GL`` is ``egl`` or unset; any other value is respected.

Environment effects, applied per frame (:class:`CameraEffects`):

* fog (density 0..1): each pixel is blended toward a grey by
  ``1 - exp(-FOG_EXTINCTION * density * depth)`` with the depth from a second,
  depth-only render of the same view (density 1 leaves about 20 m of
  visibility, 0.1 about 200 m; the sky becomes fog-grey);
* night (0..1): the scene's lights and headlight are dimmed, the whole frame
  (sky included) is darkened and Gaussian sensor noise grows, as a camera at
  high gain would show;
* blackout: a black frame (a dead or covered camera), nothing is rendered.

One ``mujoco.Renderer`` (one EGL context) is kept per image size and reused
for every camera of that size.

Measured on this project's 2-core machine (Mesa llvmpipe, substation world,
pole camera, shadows off), per 640x480 frame: 12-17 ms wall on an idle
machine, about 15 ms of CPU time (all threads) whatever the load; fog about
2.5x that (a second, depth-only render plus the blend), night about 1.3x,
shadows on about 4x; a 160x120 frame about 9 ms of CPU (fixed costs
dominate). With all nine substation cameras at 5 Hz the simulator needs
about 0.85 CPU seconds per simulated second: faster than real time only on an
otherwise idle machine. ``bench/sim_physics.py`` prints current figures.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import logging  # noqa: E402
import statistics  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from sentinel_sim.atmosphere import FOG_EXTINCTION, FOG_RGB  # noqa: E402
from sentinel_sim.physics import PhysicsWorld  # noqa: E402

_LOG = logging.getLogger(__name__)

NIGHT_LIGHT_DIM = 0.8                      # share of the light removed at night = 1
NIGHT_GAIN_DIM = 0.85                      # share of the frame brightness removed at night = 1
NIGHT_NOISE_STD = 6.0                      # 0..255, sensor noise standard deviation at night = 1
ASPECT_TOLERANCE = 0.01                    # relative; other sizes must keep the camera's aspect


@dataclass(frozen=True)
class CameraEffects:
    """Environment and fault effects on one camera's frames."""

    fog: float = 0.0        # density, 0 (clear) .. 1 (about 20 m visibility)
    night: float = 0.0      # 0 (day) .. 1 (dark night)
    blackout: bool = False  # the camera delivers black frames

    def __post_init__(self) -> None:
        for name in ('fog', 'night'):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f'CameraEffects.{name} must be in [0, 1], got {value!r}')


@dataclass(frozen=True)
class RenderConfig:
    """How frames are drawn."""

    shadows: bool = False  # directional-light shadows: about 4x the cost per frame
    seed: int = 0          # seed of the night-noise generator (frames are reproducible)


def apply_fog(image: np.ndarray, depth: np.ndarray, density: float) -> np.ndarray:
    """Blend ``image`` (h, w, 3 uint8) toward fog grey by per-pixel ``depth`` (m)."""
    if density <= 0.0:
        return image
    alpha = np.exp(np.float32(-FOG_EXTINCTION * density) * depth.astype(np.float32, copy=False))
    np.subtract(np.float32(1.0), alpha, out=alpha)  # share of fog: 0 at the lens, 1 far away
    pixels = image.astype(np.float32)
    pixels += (_FOG_RGB32 - pixels) * alpha[..., None]  # a convex blend: stays in [0, 255]
    pixels += np.float32(0.5)
    out: np.ndarray = pixels.astype(np.uint8)
    return out


def _gaussian_table() -> np.ndarray:
    """Standard-normal quantiles of the 256 byte values (a byte -> Gaussian noise table)."""
    normal = statistics.NormalDist()
    return np.array([normal.inv_cdf((k + 0.5) / 256.0) for k in range(256)], dtype=np.float32)


_FOG_RGB32 = FOG_RGB.astype(np.float32)
_GAUSSIAN = _gaussian_table()


def apply_night(image: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """Darken ``image`` and add Gaussian sensor noise, both growing with ``level`` (0..1).

    Integer arithmetic and noise drawn as random bytes through a quantile
    table: a 640x480 frame costs a few milliseconds instead of tens.
    """
    if level <= 0.0:
        return image
    gain = round(256.0 * (1.0 - NIGHT_GAIN_DIM * level))  # fixed point, 8 fractional bits
    table = np.rint(_GAUSSIAN * (NIGHT_NOISE_STD * level)).astype(np.int16)
    noise = table[np.frombuffer(rng.bytes(image.size), dtype=np.uint8).reshape(image.shape)]
    dark = (image.astype(np.uint16) * np.uint16(gain)) >> np.uint16(8)  # <= 255
    noisy = dark.view(np.int16) + noise
    out: np.ndarray = np.clip(noisy, 0, 255).astype(np.uint8)
    return out


def _use_egl_contexts() -> None:
    """Make ``mujoco.Renderer`` create EGL contexts even if MuJoCo chose another backend.

    MuJoCo binds ``mujoco.Renderer`` to a GL backend when it is first
    imported. A process (a test session, say) that imported ``mujoco`` before
    ``MUJOCO_GL=egl`` was set got GLFW, which needs a display. When EGL is
    what the environment asks for, swap the context class in; the EGL module
    is MuJoCo's own.
    """
    if os.environ.get('MUJOCO_GL', '').strip().lower() != 'egl':
        return
    try:
        from mujoco.rendering.classic import gl_context
    except ImportError:  # another MuJoCo layout: leave its choice alone
        return
    current = getattr(gl_context, 'GLContext', None)
    if current is not None and current.__module__.startswith('mujoco.egl'):
        return
    from mujoco.egl import GLContext

    gl_context.GLContext = GLContext
    _LOG.info('MuJoCo was imported before MUJOCO_GL=egl was set; rendering through EGL anyway')


class CameraRenderer:
    """Renders the cameras of one physics world, with per-frame effects.

    Not thread-safe: render from one thread (night dims the shared model's lights).
    """

    def __init__(self, physics: PhysicsWorld, config: RenderConfig | None = None) -> None:
        _use_egl_contexts()
        self.physics = physics
        self.config = config or RenderConfig()
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._rng = np.random.default_rng(self.config.seed)
        model = physics.model
        self._light_base = (model.light_diffuse.copy(), model.light_ambient.copy(),
                            model.light_specular.copy())
        head = model.vis.headlight
        self._headlight_base = (np.array(head.ambient), np.array(head.diffuse),
                                np.array(head.specular))

    def __enter__(self) -> CameraRenderer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free every EGL context (renderers are recreated on demand)."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    def _renderer(self, width: int, height: int) -> mujoco.Renderer:
        renderer = self._renderers.get((width, height))
        if renderer is None:
            try:
                renderer = mujoco.Renderer(self.physics.model, height=height, width=width)
            except mujoco.FatalError as exc:
                raise RuntimeError(
                    f'cannot create an offscreen OpenGL context ({exc}); MuJoCo chose its GL '
                    'backend when first imported: export MUJOCO_GL=egl (and install '
                    'libegl1 libegl-mesa0 libgl1) before anything imports mujoco') from exc
            flags = renderer.scene.flags
            flags[mujoco.mjtRndFlag.mjRND_SHADOW] = self.config.shadows
            flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
            flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = True
            self._renderers[(width, height)] = renderer
            _LOG.info('created a %dx%d offscreen renderer (MUJOCO_GL=%s)', width, height,
                      os.environ.get('MUJOCO_GL'))
        return renderer

    def _size(self, camera: str, width: int | None, height: int | None) -> tuple[int, int]:
        cam = self.physics.camera(camera)
        if width is None:
            if height is None:
                return cam.width, cam.height
            w, h = round(height * cam.width / cam.height), height
        else:
            w, h = width, height if height is not None else round(width * cam.height / cam.width)
        if w <= 0 or h <= 0:
            raise ValueError(f'image size must be positive, got {w}x{h}')
        if abs((w / h) / (cam.width / cam.height) - 1.0) > ASPECT_TOLERANCE:
            raise ValueError(f'camera {camera} is {cam.width}x{cam.height}; a {w}x{h} image '
                             'would change its field of view (keep the aspect ratio)')
        limit = self.physics.model.vis.global_
        if w > limit.offwidth or h > limit.offheight:
            raise ValueError(f'{w}x{h} exceeds the offscreen buffer '
                             f'{limit.offwidth}x{limit.offheight}')
        return w, h

    @contextmanager
    def _lights(self, night: float) -> Iterator[None]:
        """Dim the lights and headlight for the duration of one render."""
        if night <= 0.0:
            yield
            return
        model = self.physics.model
        scale = 1.0 - NIGHT_LIGHT_DIM * night
        head = model.vis.headlight
        try:
            model.light_diffuse[:] = self._light_base[0] * scale
            model.light_ambient[:] = self._light_base[1] * scale
            model.light_specular[:] = self._light_base[2] * scale
            head.ambient[:] = self._headlight_base[0] * scale
            head.diffuse[:] = self._headlight_base[1] * scale
            head.specular[:] = self._headlight_base[2] * scale
            yield
        finally:
            model.light_diffuse[:], model.light_ambient[:], model.light_specular[:] = \
                self._light_base
            head.ambient[:], head.diffuse[:], head.specular[:] = self._headlight_base

    def render(self, camera: str, effects: CameraEffects | None = None,
               width: int | None = None, height: int | None = None) -> np.ndarray:
        """An RGB frame (height, width, 3) uint8 of ``camera`` at the current state.

        The size defaults to the camera's; another size must keep its aspect
        ratio (so the field of view, and the ground truth, stay the same).
        """
        fx = effects or CameraEffects()
        w, h = self._size(camera, width, height)
        if fx.blackout:
            return np.zeros((h, w, 3), dtype=np.uint8)
        self.physics.update_kinematics()
        renderer = self._renderer(w, h)
        with self._lights(fx.night):
            renderer.update_scene(self.physics.data, camera=self.physics.camera_id(camera))
            image: np.ndarray = renderer.render()
        if fx.fog > 0.0:
            renderer.enable_depth_rendering()
            try:
                depth = renderer.render()
            finally:
                renderer.disable_depth_rendering()
            image = apply_fog(image, depth, fx.fog)
        if fx.night > 0.0:
            image = apply_night(image, fx.night, self._rng)
        return image
