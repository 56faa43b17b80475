"""The report: every section, the plots, and a log that reads back to the same figures."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from sentinel_scenarios.cli import main
from sentinel_scenarios.event_log import (ClockSample, CpuRecord, EventLog, HeartbeatRecord,
                                          LogError)
from sentinel_scenarios.report import SECTIONS, RunInfo, render_report
from sentinel_scenarios.scenario import parse_scenario

SCENARIO = """
version: 1
name: report_test
world: substation
seed: 1
duration: 100
intrusions:
  - {actor: intruder, expect: [perimeter_crossing]}
"""


def _with_machine(log: EventLog) -> EventLog:
    """The intrusion log plus the machine's figures."""
    log.add(HeartbeatRecord(0.0, 0.5, '/perception/detector', 10, 1, 'no active model'))
    log.add(ClockSample(1.0, 0.0))
    log.add(ClockSample(51.0, 40.0))
    log.add(CpuRecord('/sim/simulator', 20, 30.0))
    return log


def test_the_report_has_every_section_its_figures_and_plots(tmp_path, intrusion_log):
    scenario = parse_scenario(SCENARIO, 'report_test.yaml')
    info = RunInfo(started='2026-01-01T00:00:00+00:00', wall_duration=50.0,
                   recordings=('data/recordings/a.mcap',), notes=('a note',))
    report = render_report(_with_machine(intrusion_log), scenario, info, tmp_path)
    text = report.read_text(encoding='utf-8')
    positions = [text.index(f'\n## {title}\n') for title in SECTIONS]
    assert positions == sorted(positions)
    assert '| 10.0 s | 2.3 s | 10.0 s (perimeter_crossing) | 30.0 s (drone_1) |' in text
    assert '2 false alert(s)' in text
    assert 'real-time factor | 0.80 (asked 1)' in text
    assert '| start-up | nodes | /perception/detector started' in text
    assert '| /sim/simulator | 30.0 s | 60 % | 1 |' in text
    assert '/perception/detector started (pid 10, DEGRADED: no active model)' in text
    assert '| 10.0 s | ground truth | intruder comes into view of cam_nw |' in text
    assert '- Note: a note' in text and '`data/recordings/a.mcap`' in text
    for plot in ('timeline.png', 'cpu.png', 'rtf.png', 'map.png'):
        assert (tmp_path / plot).read_bytes().startswith(b'\x89PNG'), plot
        assert f']({plot})' in text


def test_an_empty_run_still_renders_every_section(tmp_path):
    scenario = parse_scenario(SCENARIO, 'report_test.yaml')
    text = render_report(EventLog(), scenario, RunInfo('now', 0.0, ()), tmp_path).read_text()
    assert all(f'## {title}' in text for title in SECTIONS)
    assert 'Nothing was observed.' in text and 'Never in view' in text


def test_the_log_reads_back_and_rerenders_from_the_command_line(tmp_path, intrusion_log):
    log = _with_machine(intrusion_log)
    log.write(tmp_path / 'events.jsonl')
    assert EventLog.read(tmp_path / 'events.jsonl').records == log.records
    info = RunInfo('now', 50.0, ('x.mcap',))
    (tmp_path / 'run.json').write_text(json.dumps(asdict(info)), encoding='utf-8')
    scenario_file = tmp_path / 'report_test.yaml'
    scenario_file.write_text(SCENARIO, encoding='utf-8')
    assert main(['--report-only', str(tmp_path), str(scenario_file)]) == 0
    assert '## Intrusions' in (tmp_path / 'report.md').read_text(encoding='utf-8')


def test_a_damaged_log_line_is_reported_with_its_place(tmp_path):
    path = tmp_path / 'events.jsonl'
    path.write_text('{"type": "ClockSample", "wall": 1, "sim": 2}\n{"type": "Nope"}\n')
    with pytest.raises(LogError, match=r'events.jsonl:2: not an event record'):
        EventLog.read(path)
