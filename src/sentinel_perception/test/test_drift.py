"""Drift monitoring: fires on simulator fog and night, stays quiet on clean frames."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sentinel_perception import drift_baseline
from sentinel_perception.drift import (Baseline, DriftMonitor, DriftSettings, MetricBaseline,
                                       compare_categorical, compare_continuous, image_statistics,
                                       psi)
from sentinel_perception.drift_alerts import DriftAlerts
from sentinel_perception.drift_report import write_report

ROOT = Path(__file__).resolve().parents[3]
SITE_CONFIG = ROOT / 'config' / 'sites' / 'substation.yaml'
CAMERAS = ('cam_nw', 'cam_ne', 'cam_se', 'cam_sw')
CLASSES = ('person', 'vehicle', 'drone')
# Simulation times (s) of the baseline's frames and of the live windows: the
# actors walk and drive between them, so live frames are never copies.
BASELINE_TIMES = (5.0, 30.0, 55.0, 80.0, 105.0)
LIVE_TIMES = (17.0, 68.0, 130.0)
FRAME_SIZE = (320, 240)   # px: the cameras' aspect, a quarter of the pixels (faster)
# First MAVLink port offset tried for the test's simulation (clear of other tests' ports).
PORT_OFFSET = 4700


@pytest.fixture(scope='module')
def simulation():
    """The substation in the embedded simulator (rendering on, no periodic camera frames)."""
    from sentinel_sim.simulation import Simulation, SimulationOptions
    from sentinel_sim.site_config import load_site

    site, world = load_site(SITE_CONFIG)
    last_error: OSError | None = None
    for offset in range(PORT_OFFSET, PORT_OFFSET + 500, 100):
        try:
            sim = Simulation(world, site, SimulationOptions(render=True, camera_rate_scale=0.0,
                                                            mavlink_port_offset=offset))
            break
        except OSError as error:  # a port of this offset is taken: try the next block
            last_error = error
    else:
        raise RuntimeError(f'no free MAVLink ports for the test simulation: {last_error}')
    yield sim
    sim.close()


def _frames(sim, times) -> list[tuple[str, float, np.ndarray]]:
    """Every fixed camera at each time, with the simulator's current fault effects."""
    out = []
    for moment in times:
        sim.physics.data.time = moment   # actors are scripted by time; vehicles stay parked
        sim.physics.step(sim.physics.timestep)
        for camera in CAMERAS:
            image = sim.renderer.render(camera, sim.environment.effects(camera), *FRAME_SIZE)
            out.append((camera, sim.time, image))
    return out


@pytest.fixture(scope='module')
def baseline_file(simulation, tmp_path_factory) -> Path:
    """A YOLO-layout dataset of clean frames (labels from ground truth), through the CLI."""
    root = tmp_path_factory.mktemp('dataset')
    images, labels = root / 'images' / 'train', root / 'labels' / 'train'
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for index, (camera, _, image) in enumerate(_frames(simulation, BASELINE_TIMES)):
        Image.fromarray(image).save(images / f'{camera}_{index:03d}.png')
        lines = []
        for box in simulation.physics.ground_truth(camera):
            if box.entity_class in CLASSES and box.visible_fraction > 0.3:
                cx, cy = (box.x_min + box.x_max) / 1280, (box.y_min + box.y_max) / 960
                w, h = (box.x_max - box.x_min) / 640, (box.y_max - box.y_min) / 480
                lines.append(f'{CLASSES.index(box.entity_class)} {cx} {cy} {w} {h}')
        (labels / f'{camera}_{index:03d}.txt').write_text('\n'.join(lines))
    (root / 'data.yaml').write_text(f'path: .\ntrain: images/train\nnames: {list(CLASSES)}\n')
    out = root / 'baseline.json'
    assert drift_baseline.main([str(root), '--out', str(out),
                                '--camera-regex', r'^(cam_[a-z]+)_']) == 0
    return out


def _judge(baseline: Baseline, frames) -> list:
    monitor = DriftMonitor(baseline, DriftSettings(window=1e6, min_frames=len(LIVE_TIMES)))
    for camera, stamp, image in frames:
        monitor.add_frame(camera, stamp, image)
    return monitor.evaluate()


def test_the_cli_baseline_has_image_statistics_class_mix_and_cameras(baseline_file):
    baseline = Baseline.load(baseline_file)
    assert baseline.image_count == len(BASELINE_TIMES) * len(CAMERAS)
    assert {'brightness', 'contrast', 'sharpness', 'class_mix'} <= set(baseline.metrics)
    assert baseline.class_mix_source == 'labels'
    assert sorted(baseline.cameras) == sorted(CAMERAS)


def test_quiet_on_clean_frames_and_firing_on_fog_and_night(simulation, baseline_file):
    from sentinel_sim.simulation import Fault

    baseline = Baseline.load(baseline_file)
    clean = _judge(baseline, _frames(simulation, LIVE_TIMES))
    assert {r.camera_id for r in clean} == {'', *CAMERAS}
    assert not any(r.drifted for r in clean), [(r.camera_id, [(m.name, m.psi) for m in r.metrics])
                                               for r in clean]

    simulation.inject(Fault.FOG, '', 0.5, clear=False)       # as /sim/inject_fault FAULT_FOG does
    foggy = _judge(baseline, _frames(simulation, LIVE_TIMES))
    simulation.inject(Fault.FOG, '', 0.0, clear=True)
    simulation.inject(Fault.NIGHT, '', 0.7, clear=False)     # FAULT_NIGHT
    night = _judge(baseline, _frames(simulation, LIVE_TIMES))
    simulation.inject(Fault.NIGHT, '', 0.0, clear=True)
    for results in (foggy, night):
        assert all(r.drifted for r in results)
        overall = next(r for r in results if r.camera_id == '')
        brightness = next(m for m in overall.metrics if m.name == 'brightness')
        assert brightness.drifted and brightness.psi > 1.0 and brightness.p_value < 1e-6
    mean_brightness = lambda results: float(np.mean(   # noqa: E731
        next(r for r in results if r.camera_id == '').metrics[0].live_samples))
    assert mean_brightness(night) < mean_brightness(clean) < mean_brightness(foggy)


def test_psi_and_ks_on_known_distributions():
    rng = np.random.default_rng(1)
    reference = MetricBaseline.continuous('x', rng.normal(0.0, 1.0, 4000))
    same = compare_continuous(reference, rng.normal(0.0, 1.0, 400), 0.25, 0.01)
    shifted = compare_continuous(reference, rng.normal(1.5, 1.0, 400), 0.25, 0.01)
    assert same.psi < 0.1 and not same.drifted and same.p_value > 0.01
    assert shifted.psi > 1.0 and shifted.drifted and shifted.ks_statistic > 0.4
    assert psi([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0)
    mix = MetricBaseline.categorical_from('class_mix', ['person'] * 60 + ['vehicle'] * 40)
    assert not compare_categorical(mix, ['person'] * 6 + ['vehicle'] * 4, 0.25).drifted
    assert compare_categorical(mix, ['drone'] * 10, 0.25).drifted      # a class never trained on


def test_too_few_samples_are_not_judged_and_confidence_is_watched():
    rng = np.random.default_rng(2)
    baseline = Baseline({'confidence': MetricBaseline.continuous('confidence',
                                                                  rng.uniform(0.5, 0.95, 2000))})
    monitor = DriftMonitor(baseline, DriftSettings(window=100.0, min_detections=30))
    monitor.add_detections('cam_a', 1.0, [(0.3, 'person')] * 10)
    assert monitor.evaluate() == []
    monitor.add_detections('cam_a', 2.0, [(0.3, 'person')] * 30)
    (result,) = monitor.evaluate()
    assert result.camera_id == '' and result.drifted
    monitor.add_detections('cam_a', 500.0, [(c, 'person') for c in rng.uniform(0.5, 0.95, 60)])
    (result,) = monitor.evaluate()                 # the old samples left the window
    assert not result.drifted


def test_a_baseline_of_few_detections_is_no_reference_for_the_models_outputs():
    """A recording whose detections are mostly one parked car: an intruder is not drift."""
    car = [0.69] * 50 + list(np.linspace(0.35, 0.8, 81))
    few = Baseline({'confidence': MetricBaseline.continuous('confidence', car),
                    'class_mix': MetricBaseline.categorical_from('class_mix', ['vehicle'] * 131)})
    monitor = DriftMonitor(few, DriftSettings(window=100.0, min_detections=30))
    assert not monitor.judges_outputs()
    monitor.add_detections('cam_a', 1.0, [(0.5, 'person')] * 60)
    assert monitor.evaluate() == []                # nothing it can judge
    enough = DriftMonitor(few, DriftSettings(window=100.0, min_detections=30,
                                             min_baseline_detections=100))
    enough.add_detections('cam_a', 1.0, [(0.5, 'person')] * 60)
    (result,) = enough.evaluate()
    assert result.drifted and {m.name for m in result.metrics} == {'confidence', 'class_mix'}


def test_a_camera_on_a_vehicle_feeds_the_overall_verdict_but_gets_none_of_its_own():
    rng = np.random.default_rng(3)
    pad = {'brightness': MetricBaseline.continuous('brightness', rng.normal(60.0, 5.0, 2000))}
    baseline = Baseline(pad, cameras={'drone_1_camera': pad, 'cam_nw': pad})
    settings = DriftSettings(window=100.0, min_frames=5)
    for moving, expected in (((), {'', 'drone_1_camera', 'cam_nw'}),
                             (('drone_1_camera',), {'', 'cam_nw'})):
        monitor = DriftMonitor(baseline, settings, moving_cameras=moving)
        for k in range(10):   # the drone flies over brighter ground than its pad
            monitor.add_statistics('drone_1_camera', float(k), {'brightness': rng.normal(90.0, 5.0, 16)})
            monitor.add_statistics('cam_nw', float(k), {'brightness': rng.normal(60.0, 5.0, 16)})
        verdicts = {r.camera_id: r.drifted for r in monitor.evaluate()}
        assert set(verdicts) == expected and not verdicts['cam_nw']


def test_image_statistics_on_any_frame_size_and_bad_shapes():
    frame = np.random.default_rng(3).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    stats = image_statistics(frame)
    assert all(v.shape == (16,) for v in stats.values())
    with pytest.raises(ValueError, match='too small'):
        image_statistics(np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match='expected an'):
        image_statistics(np.zeros((100, 100), dtype=np.uint8))


def test_report_and_alerts_follow_the_drift(tmp_path):
    rng = np.random.default_rng(4)
    baseline = Baseline({'brightness': MetricBaseline.continuous('brightness',
                                                                  rng.normal(140, 10, 1000))},
                        source='synthetic', image_count=60)
    monitor = DriftMonitor(baseline, DriftSettings(window=10.0, min_frames=5))
    dark = np.full((240, 320, 3), 20, dtype=np.uint8)
    for i in range(6):
        monitor.add_statistics('cam_a', float(i), {'brightness': rng.normal(30, 5, 16)})
    (result,) = monitor.evaluate()
    assert result.drifted
    report = write_report(tmp_path, result, baseline, 'v7')
    assert report.is_file() and (report.parent / 'brightness.png').stat().st_size > 1000
    assert 'brightness PSI' in report.read_text()
    alerts = DriftAlerts(update_period=60.0)
    raised = alerts.update(result, 10.0, report.as_uri())
    assert raised is not None and raised.category == 'drift' and raised.evidence_uri
    assert alerts.update(result, 20.0, '') is None                     # no repeat within a minute
    assert alerts.update(result, 80.0, '').alert_id == raised.alert_id  # updated, same id
    for i in range(20, 30):
        monitor.add_statistics('cam_a', float(i), {'brightness': rng.normal(140, 10, 16)})
    (calm,) = monitor.evaluate()
    ended = alerts.update(calm, 90.0, '')
    assert ended.alert_id == raised.alert_id and 'ended' in ended.description
    assert alerts.update(calm, 100.0, '') is None
    del dark


def test_the_cli_refuses_unusable_datasets(tmp_path, capsys):
    assert drift_baseline.main([str(tmp_path / 'missing'), '--out', str(tmp_path / 'b.json')]) == 2
    (tmp_path / 'empty').mkdir()
    assert drift_baseline.main([str(tmp_path / 'empty'), '--out', str(tmp_path / 'b.json')]) == 2
    images = tmp_path / 'broken' / 'images'
    images.mkdir(parents=True)
    (images / 'a.png').write_bytes(b'not a png')
    assert drift_baseline.main([str(tmp_path / 'broken'), '--out', str(tmp_path / 'b.json')]) == 2
    assert not (tmp_path / 'b.json').exists()


def test_normal_only_skips_the_adverse_images_of_a_simulator_dataset(tmp_path):
    images = tmp_path / 'images' / 'train'
    images.mkdir(parents=True)
    rng = np.random.default_rng(3)
    index = []
    for n, (fog, night, blackout) in enumerate([(0, 0, False), (0.4, 0, False), (0, 0.5, False),
                                                (0, 0, True), (0, 0, False)]):
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(images / f'{n}.png')
        index.append(json.dumps({'image': f'images/train/{n}.png', 'fog': fog, 'night': night,
                                 'blackout': blackout}))
    (tmp_path / 'index.jsonl').write_text('\n'.join(index) + '\n')
    assert drift_baseline.build_baseline(tmp_path, normal_only=True).image_count == 2
    assert drift_baseline.build_baseline(tmp_path).image_count == 5
    (tmp_path / 'index.jsonl').write_text('{"image": "images/train/0.png"}\n')
    with pytest.raises(drift_baseline.DatasetError, match=r'index.jsonl:1: not an index record'):
        drift_baseline.build_baseline(tmp_path, normal_only=True)
    (tmp_path / 'index.jsonl').unlink()
    assert drift_baseline.main([str(tmp_path), '--out', str(tmp_path / 'b.json'),
                                '--normal-only']) == 2


def test_a_limited_baseline_spreads_over_the_whole_dataset():
    paths = [Path(f'{world}_{n}.png') for world in ('a', 'b') for n in range(50)]
    sample = drift_baseline.spread_sample(paths, 10)
    assert len(sample) == 10 and {p.name[0] for p in sample} == {'a', 'b'}
    assert drift_baseline.spread_sample(paths, 500) == paths


def test_baseline_files_are_validated(tmp_path):
    path = tmp_path / 'b.json'
    path.write_text(json.dumps({'version': 1, 'metrics': {'x': {'shares': [1.0], 'edges': [0.5]}}}))
    with pytest.raises(ValueError, match='inconsistent'):
        Baseline.load(path)
    path.write_text('{')
    with pytest.raises(ValueError, match='cannot read'):
        Baseline.load(path)
    assert math.isnan(compare_categorical(MetricBaseline.categorical_from('m', ['a']), ['a'],
                                          0.25).p_value)
