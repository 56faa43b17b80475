"""The response policy file: the shipped one loads; mistakes name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinel_control.response_policy import (PolicyError, Severity, load_response_policy,
                                              parse_response_policy)

SHIPPED = Path(__file__).resolve().parents[3] / 'config' / 'response_policy.yaml'


def test_shipped_policy_covers_every_alert_category() -> None:
    policy = load_response_policy(SHIPPED)
    assert set(policy.categories) >= {'intrusion', 'perimeter_crossing', 'loitering', 'drone_incursion',
                                      'drift', 'system', 'safety'}
    intrusion = policy.categories['intrusion']
    assert intrusion.respond and intrusion.vehicle_kinds[0] == 'drone' and 'camera' in intrusion.capabilities
    assert intrusion.min_severity is Severity.WARNING
    assert policy.categories['loitering'].operator_approval
    assert not policy.categories['drift'].respond and not policy.categories['safety'].respond
    assert policy.patrol_priority < min(c.priority for c in policy.categories.values() if c.respond)


@pytest.mark.parametrize('edit,key', [
    (('observe_duration: 120.0', 'observe_duration: -1'), 'categories.intrusion.observe_duration'),
    (('vehicle_types: [drone, ground]', 'vehicle_types: [drone, boat]'), 'categories.intrusion.vehicle_types[1]'),
    (('capabilities: [camera]\n    min_severity: warning\n    operator_approval: false\n    observe_duration: 120.0',
      'capabilities: [radar]\n    min_severity: warning\n    operator_approval: false\n    observe_duration: 120.0'),
     'categories.intrusion.capabilities[0]'),
    (('battery_reserve: 0.30', 'battery_reserve: 0.30\n    extra: 1'), 'vehicle_profiles.drone.extra'),
    (('min_severity: warning', 'min_severity: loud'), 'categories.intrusion.min_severity'),
    (('version: 1', 'version: 2'), 'version'),
    (('patrol_priority: 10', 'patrol_priority: 300'), 'patrol_priority'),
])
def test_errors_name_the_key(edit: tuple[str, str], key: str) -> None:
    text = SHIPPED.read_text(encoding='utf-8').replace(edit[0], edit[1], 1)
    with pytest.raises(PolicyError) as info:
        parse_response_policy(text, 'policy.yaml')
    assert info.value.key == key and info.value.file == 'policy.yaml'


def test_duplicate_keys_and_bad_yaml_are_refused(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding='utf-8')
    with pytest.raises(PolicyError, match='duplicate key'):
        parse_response_policy(text.replace('patrol_priority: 10', 'patrol_priority: 10\npatrol_priority: 5'), 'p')
    with pytest.raises(PolicyError, match='invalid YAML'):
        parse_response_policy('categories: [', 'p')
    with pytest.raises(PolicyError, match='cannot read'):
        load_response_policy(tmp_path / 'missing.yaml')
