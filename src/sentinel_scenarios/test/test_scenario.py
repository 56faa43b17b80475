"""Scenario files: every repository scenario is valid; bad ones fail with file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel_scenarios.cli import main
from sentinel_scenarios.scenario import (EventKind, Fault, ScenarioError, check_targets,
                                         load_scenario, parse_scenario)

REPO = Path(__file__).resolve().parents[3]
SCENARIOS = sorted((REPO / 'scenarios').glob('*.yaml'))

VALID = """
version: 1
name: sample
world: substation
seed: 3
duration: 100
intrusions:
  - {actor: intruder, expect: [perimeter_crossing]}
events:
  - {at: 50, kind: kill_node, node: /perception/fusion}
  - {at: 10, kind: fault, fault: link_cut, target: drone_1, duration: 5}
  - {at: 20, kind: fault, fault: fog, magnitude: 0.5}
  - {at: 30, kind: alert, category: intrusion, position: [1, 2]}
  - {at: 40, kind: estop}
"""


def test_a_valid_scenario_is_read_with_defaults_and_events_in_time_order():
    scenario = parse_scenario(VALID, 'sample.yaml')
    assert (scenario.name, scenario.world, scenario.seed, scenario.duration) == \
        ('sample', 'substation', 3, 100.0)
    assert scenario.real_time_factor == 1.0 and scenario.camera_rate_scale == 1.0
    assert [e.at for e in scenario.events] == [10, 20, 30, 40, 50]
    cut = scenario.events[0]
    assert (cut.kind, cut.fault, cut.target, cut.duration, cut.key) == \
        (EventKind.FAULT, Fault.LINK_CUT, 'drone_1', 5.0, 'events[1]')
    assert scenario.events[1].magnitude == 0.5
    assert scenario.events[2].position == (1.0, 2.0)
    assert scenario.events[3].note == 'scenario drill'


@pytest.mark.parametrize('old, new, key, reason', [
    ('seed: 3', 'seed: three', 'seed', 'expected an integer'),
    ('duration: 100', 'duration: -5', 'duration', 'is outside'),
    ('version: 1', 'version: 2', 'version', 'expected 1'),
    ('name: sample', 'name: sample\ncolour: red', 'colour', 'unknown key'),
    ('kind: estop', 'kind: explode', 'events[4].kind', "'explode' is not one of"),
    ('at: 40,', 'at: 400,', 'events[4].at', 'is outside'),
    ('magnitude: 0.5', 'magnitude: 1.5', 'events[2].magnitude', 'is outside'),
    ('magnitude: 0.5', 'magnitude: 0.5, target: cam_nw', 'events[2].target',
     'site-wide and takes no target'),
    ('fault: link_cut', 'fault: melt', 'events[1].fault', "'melt' is not one of"),
    ('target: drone_1, ', '', 'events[1].target', 'required key is missing'),
    ('node: /perception/fusion', 'node: fusion', 'events[0].node', 'fully qualified'),
    ('position: [1, 2]', 'position: [1]', 'events[3].position', 'expected [x, y]'),
    ('expect: [perimeter_crossing]', 'expect: [theft]', 'intrusions[0].expect[0]',
     "'theft' is not one of"),
])
def test_bad_values_are_refused_with_file_key_and_reason(old, new, key, reason):
    assert old in VALID
    with pytest.raises(ScenarioError) as error:
        parse_scenario(VALID.replace(old, new), 'bad.yaml')
    assert (error.value.file, error.value.key) == ('bad.yaml', key)
    assert reason in error.value.reason
    assert str(error.value).startswith(f'bad.yaml: {key}: ')


def test_syntax_errors_missing_keys_and_duplicates_name_the_place(tmp_path):
    with pytest.raises(ScenarioError, match=r'bad.yaml: \(syntax\)'):
        parse_scenario('version: [1', 'bad.yaml')
    with pytest.raises(ScenarioError, match='bad.yaml: world: required key is missing'):
        parse_scenario(VALID.replace('world: substation\n', ''), 'bad.yaml')
    twice = VALID.replace('intrusions:\n', 'intrusions:\n  - {actor: intruder, expect: [intrusion]}\n')
    with pytest.raises(ScenarioError, match=r'intrusions\[1\].actor: .* listed twice'):
        parse_scenario(twice, 'bad.yaml')
    with pytest.raises(ScenarioError, match=r'\(top level\): expected a mapping'):
        parse_scenario('- 1', 'bad.yaml')
    missing = tmp_path / 'absent.yaml'
    with pytest.raises(ScenarioError, match=r'absent.yaml: \(file\)'):
        load_scenario(missing)


def test_targets_are_checked_against_the_world_and_the_launch_file():
    scenario = parse_scenario(VALID, 'sample.yaml')
    names = dict(vehicles={'drone_1'}, cameras={'cam_nw'}, actors={'intruder'},
                 nodes={'/perception/fusion'})
    check_targets(scenario, **names)
    for field, key in (('vehicles', 'events[1].target'), ('actors', 'intrusions[0].actor'),
                       ('nodes', 'events[0].node')):
        with pytest.raises(ScenarioError) as error:
            check_targets(scenario, **{**names, field: {'other'}})
        assert error.value.key == key


def test_every_repository_scenario_is_valid_against_its_world():
    assert len(SCENARIOS) >= 7
    assert main(['--check', *map(str, SCENARIOS)]) == 0


def test_the_command_refuses_a_bad_scenario_before_starting_anything(tmp_path, caplog):
    bad = tmp_path / 'typo.yaml'
    bad.write_text(VALID.replace('target: drone_1', 'target: drone_9'), encoding='utf-8')
    assert main(['--check', str(bad)]) == 2
    assert "events[1].target: no vehicle 'drone_9'" in caplog.text


@pytest.mark.parametrize('option, value', [('--duration', '0'), ('--real-time-factor', '-1'),
                                           ('--camera-rate-scale', '0')])
def test_overrides_out_of_range_are_refused(option, value, caplog):
    assert main(['--check', str(SCENARIOS[0]), option, value]) == 2
    assert f'{option}: must be' in caplog.text
