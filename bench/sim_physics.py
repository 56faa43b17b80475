#!/usr/bin/env python3
"""Benchmark of the embedded simulator's physics and cameras.

Why: the simulator must run a site's whole fleet faster than real time on
one slow core, and its cameras cost most of the rest. This script prints:

1. physics only, 20 / 50 / 100 vehicles (60 % drones hovering and flying
   to points, 40 % ground vehicles driving to points) over the substation's
   scenery: real-time factor (simulated s per wall s), CPU time per simulated
   second, and the ratio against a bare ``mj_step`` loop of the same model
   measured in the same run (the cost of the controllers, setpoints and
   state output on top of MuJoCo);
2. the substation and the large solar-farm site as shipped, every camera
   rendering at its configured rate with ground truth (rendering included),
   against the same flight without cameras;
3. the cost of one 640x480 frame plain, with fog and at night.

Run: ``.venv/bin/python bench/sim_physics.py`` (about 20 s on an idle
2-core machine; it prints the load average, since other processes sharing
the CPUs slow the wall-clock figures but hardly the CPU ones). Timing goals
live here, not in the tests: figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

import mujoco  # noqa: E402

from sentinel_sim.physics import PhysicsWorld  # noqa: E402
from sentinel_sim.rendering import CameraEffects, CameraRenderer  # noqa: E402
from sentinel_sim.vehicle_types import Setpoint, SetpointMode, Vector3, VehicleKind  # noqa: E402
from sentinel_sim.world import Pose, Vehicle, World, load_world  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WORLD = REPO / 'worlds' / 'substation.sdf'
LARGE_WORLD = REPO / 'worlds' / 'solar_farm.sdf'
FLEET_SIZES = (20, 50, 100)   # vehicles per physics run
PHYSICS_SECONDS = 10.0        # simulated seconds per physics run
RENDER_SECONDS = 3.0          # simulated seconds of the camera run
CONTROL_PERIOD = 0.02         # s, one autopilot tick (setpoints in, states out)
TAKEOFF_SECONDS = 5.0         # s, first leg: drones climb to their altitudes (10 to 14 m)
LEG_SECONDS = 2.5             # s, then vehicles get a new target this often
COLUMNS = 10                  # fleet grid columns
SPACING = (14.0, 8.0)         # m, grid spacing (x, y): south of the fence, open ground
GRID_ORIGIN = (-63.0, -115.0)  # m, first grid cell
FRAME_SAMPLES = 5             # frames timed per effect for the per-frame figures


def fleet_world(base: World, count: int) -> World:
    """The base world's scenery with ``count`` vehicles on a grid (60 % drones)."""
    drone = next(v for v in base.vehicles if v.kind is VehicleKind.DRONE)
    rover = next(v for v in base.vehicles if v.kind is VehicleKind.GROUND)
    vehicles: list[Vehicle] = []
    for i in range(count):
        template = drone if i % 5 < 3 else rover
        x = GRID_ORIGIN[0] + (i % COLUMNS) * SPACING[0]
        y = GRID_ORIGIN[1] - (i // COLUMNS) * SPACING[1]
        model = dataclasses.replace(template.model, name=f'v{i:03d}',
                                    pose=Pose(x, y, template.pose.z))
        vehicles.append(dataclasses.replace(template, model=model, camera=None,
                                            mavlink_port=20000 + i, system_id=1 + i % 250))
    return dataclasses.replace(base, vehicles=tuple(vehicles), cameras=base.fixed_cameras)


def fleet_setpoints(world: World, leg: int) -> dict[str, Setpoint]:
    """Leg 0: take off, drive out; then every other drone flies 10 m and back, rovers shuttle."""
    setpoints: dict[str, Setpoint] = {}
    for i, vehicle in enumerate(world.vehicles):
        x, y = vehicle.pose.x, vehicle.pose.y
        if vehicle.kind is VehicleKind.DRONE:
            altitude = 10.0 + 2.0 * (i % 3)
            flies = i % 2 == 1 and leg % 2 == 1  # 10 m east and back: short of the next column
            target = Vector3(x + (10.0 if flies else 0.0), y, altitude)
            setpoints[vehicle.name] = Setpoint(SetpointMode.POSITION, target, max_speed=8.0)
        else:
            out = 5.0 if leg % 2 == 0 else 0.0
            setpoints[vehicle.name] = Setpoint(SetpointMode.POSITION, Vector3(x + out, y + 2.0, 0),
                                               max_speed=2.0)
    return setpoints


def run_physics(world: World) -> tuple[float, float, PhysicsWorld]:
    """Wall and CPU seconds for PHYSICS_SECONDS of flight, and the physics afterwards."""
    physics = PhysicsWorld(world)
    ticks = round(PHYSICS_SECONDS / CONTROL_PERIOD)
    first = round(TAKEOFF_SECONDS / CONTROL_PERIOD)
    per_leg = round(LEG_SECONDS / CONTROL_PERIOD)
    wall, cpu = time.perf_counter(), time.process_time()
    setpoints = fleet_setpoints(world, 0)
    for tick in range(ticks):
        if tick >= first and (tick - first) % per_leg == 0:
            setpoints = fleet_setpoints(world, 1 + (tick - first) // per_leg)
        states = physics.step(CONTROL_PERIOD, setpoints)
        for _ in states.values():  # read every state, as the autopilots do
            pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    crashed = [name for name in physics.body_states() if physics.crashed(name)]
    if crashed:
        print(f'  warning: crashed during the run: {", ".join(crashed)}')
    return wall, cpu, physics


def run_bare(physics: PhysicsWorld) -> tuple[float, float]:
    """Wall and CPU seconds of a bare mj_step loop: same model, state and steps, no controllers.

    It starts where the controlled run ended (drones in the air, the last
    forces held), so MuJoCo does the same contact work as in the full run.
    """
    model, data = physics.model, physics.data
    steps = round(PHYSICS_SECONDS / physics.timestep)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        mujoco.mj_step(model, data)
    return time.perf_counter() - wall, time.process_time() - cpu


def physics_section(base: World) -> None:
    print(f'Physics only: {PHYSICS_SECONDS:g} s simulated, step {base.step_size} s, '
          f'setpoints in and states out every {CONTROL_PERIOD} s, 60 % drones / 40 % ground '
          'vehicles')
    print(f'{"vehicles":>8} {"RTF wall":>9} {"RTF CPU":>8} {"CPU s/sim s":>12} '
          f'{"bare RTF CPU":>13} {"full/bare":>10} {"CPU ms/tick":>12}')
    for count in FLEET_SIZES:
        world = fleet_world(base, count)
        wall, cpu, physics = run_physics(world)
        _, bare_cpu = run_bare(physics)
        print(f'{count:>8} {PHYSICS_SECONDS / wall:>9.2f} {PHYSICS_SECONDS / cpu:>8.2f} '
              f'{cpu / PHYSICS_SECONDS:>12.3f} {PHYSICS_SECONDS / bare_cpu:>13.1f} '
              f'{cpu / bare_cpu:>10.1f} {1000.0 * cpu * CONTROL_PERIOD / PHYSICS_SECONDS:>12.2f}')
    print('  RTF: simulated / elapsed seconds (>= 1 is faster than real time); "RTF CPU" counts '
          'the process\'s CPU time only,\n  i.e. the RTF on a core of its own (the wall figure '
          'drops when other processes share the CPUs).\n  bare: a plain mj_step loop of the same '
          'model and state without controllers; full/bare: CPU-time ratio of the two.')


def camera_run(base: World, render: bool) -> tuple[float, float, int]:
    """Wall and CPU seconds of RENDER_SECONDS of the substation; frames rendered.

    With ``render``, every camera renders at its configured rate and its
    ground truth is computed, as the simulator does; without, the same
    flight with no camera work (the baseline).
    """
    physics = PhysicsWorld(base)
    renderer = CameraRenderer(physics)
    takeoff = {v.name: Setpoint(SetpointMode.POSITION, Vector3(v.pose.x, v.pose.y, 15.0))
               for v in base.vehicles if v.kind is VehicleKind.DRONE}
    if render:
        for camera in base.cameras:  # warm up: EGL context, first-frame set-up
            renderer.render(camera.name)
    next_frame = {c.name: 0.0 for c in base.cameras}
    frames = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(round(RENDER_SECONDS / CONTROL_PERIOD)):
        physics.step(CONTROL_PERIOD, takeoff)
        now = physics.time
        for camera in base.cameras if render else ():
            if now + 1e-9 >= next_frame[camera.name]:
                next_frame[camera.name] += 1.0 / camera.update_rate
                renderer.render(camera.name)
                physics.ground_truth(camera.name)
                frames += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    renderer.close()
    return wall, cpu, frames


def render_section(base: World) -> None:
    cameras = base.cameras
    rate = sum(c.update_rate for c in cameras)
    print(f'\n{base.name} as shipped ({len(base.vehicles)} vehicles), {RENDER_SECONDS:g} s '
          f'simulated, all {len(cameras)} cameras at '
          f'their rates ({rate:g} frames per simulated s, {cameras[0].width}x'
          f'{cameras[0].height}) with ground truth, against the same run without cameras:')
    base_wall, base_cpu, _ = camera_run(base, render=False)
    wall, cpu, frames = camera_run(base, render=True)
    print(f'  without cameras: RTF wall {RENDER_SECONDS / base_wall:.2f}, RTF CPU '
          f'{RENDER_SECONDS / base_cpu:.2f}')
    print(f'  with cameras:    RTF wall {RENDER_SECONDS / wall:.2f}, RTF CPU '
          f'{RENDER_SECONDS / cpu:.2f} ({cpu / base_cpu:.1f}x the CPU time), {frames} frames, '
          f'{1000.0 * (cpu - base_cpu) / frames:.1f} CPU ms per frame')
    print('  (CPU time counts every thread: Mesa llvmpipe renders on all cores)')


def frame_section(base: World) -> None:
    print('\nOne frame of a fixed camera, against the plain frame:')
    physics = PhysicsWorld(base)
    renderer = CameraRenderer(physics)
    renderer.render('cam_sw')
    baseline = None
    for label, effects in (('plain', CameraEffects()), ('fog 0.5', CameraEffects(fog=0.5)),
                           ('night 1.0', CameraEffects(night=1.0)),
                           ('blackout', CameraEffects(blackout=True))):
        started, cpu_started = time.perf_counter(), time.process_time()
        for _ in range(FRAME_SAMPLES):
            renderer.render('cam_sw', effects)
        per_frame = (time.perf_counter() - started) / FRAME_SAMPLES
        cpu_frame = (time.process_time() - cpu_started) / FRAME_SAMPLES
        baseline = baseline or cpu_frame
        print(f'  one 640x480 frame, {label:<9} {1000.0 * per_frame:6.1f} ms wall, '
              f'{1000.0 * cpu_frame:6.1f} ms CPU ({cpu_frame / baseline:.2f}x plain)')
    renderer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--skip-render', action='store_true', help='physics section only')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    base = load_world(WORLD)
    print(f'MuJoCo {mujoco.__version__}, MUJOCO_GL={os.environ["MUJOCO_GL"]}, '
          f'{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}')
    started = time.perf_counter()
    physics_section(base)
    if not args.skip_render:
        render_section(base)
        render_section(load_world(LARGE_WORLD))
        frame_section(base)
    print(f'\nTotal {time.perf_counter() - started:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
