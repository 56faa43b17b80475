"""The scenario report: Markdown with PNG plots, rendered from an event log.

Figures are drawn with matplotlib's object API (``Figure`` without pyplot), so
rendering needs no display and keeps no global state between reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from sentinel_scenarios.event_log import (ClockSample, CpuRecord, EntitySample, EventLog,
                                          InjectionRecord)
from sentinel_scenarios.metrics import (IntrusionResult, NodeCpu, cpu_per_node, estop_results,
                                        false_alerts, first_alerts, intrusion_results,
                                        link_cut_results, real_time_factor, restart_results)
from sentinel_scenarios.scenario import Scenario
from sentinel_scenarios.timeline import SEVERITY_NAMES, Entry, build_timeline, simulation_start

REPORT_NAME = 'report.md'
# Section titles, in order; tests and readers look for them.
SECTIONS = ('Summary', 'Timeline', 'Intrusions', 'False alerts', 'E-stop', 'Injected faults',
            'CPU per node', 'Real-time factor')
# Pixel density of the plots.
DPI = 100
# Colours of ground-truth roles on the map.
ROLE_COLOURS = {'intruder': 'tab:red', 'authorized': 'tab:green', 'own_vehicle': 'tab:blue'}


@dataclass(frozen=True)
class RunInfo:
    """What the run was, beside what it observed."""

    started: str                    # ISO 8601, UTC
    wall_duration: float            # s from the simulator's start to the end of the run
    recordings: tuple[str, ...]     # MCAP files, relative to the report
    notes: tuple[str, ...] = ()     # anything the run could not do as asked


def _seconds(value: float | None) -> str:
    return '—' if value is None else f'{value:.1f} s'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return '| ' + ' | '.join(c.replace('|', '\\|') for c in cells) + ' |'
    return [line(header), line(['---'] * len(header)), *(line(r) for r in rows)]


# ---------------------------------------------------------------- plots

def _save(figure: Figure, path: Path) -> str:
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path.name


def plot_timeline(results: Sequence[IntrusionResult], log: EventLog, duration: float,
                  path: Path) -> str:
    figure = Figure(figsize=(9, 1.2 + 0.5 * max(1, len(results))))
    axes = figure.add_subplot()
    for row, result in enumerate(results):
        if result.onset is None:
            axes.text(0, row, '  never in view', va='center', fontsize=8)
            continue
        marks = [('in view', 0.0, 'o'), ('detected', result.detect, 's'),
                 ('alert', result.alert, '^'), ('vehicle on scene', result.on_scene, '*')]
        for label, offset, marker in marks:
            if offset is not None:
                axes.plot(result.onset + offset, row, marker, markersize=9,
                          label=label if row == 0 else None)
    for injection in log.of(InjectionRecord):
        axes.axvline(injection.t, color='tab:purple', linestyle='--', linewidth=0.8, zorder=0)
    for alert in first_alerts(log):
        axes.axvline(alert.t, color='0.8', linewidth=0.8, zorder=0)
    axes.set_yticks(range(len(results)), [r.actor for r in results])
    axes.set_xlim(0, duration)
    axes.set_xlabel('simulated time (s); grey: alerts raised, dashed: scenario events')
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc='upper left', fontsize=7, ncols=4)
    return _save(figure, path)


def plot_map(samples: Sequence[EntitySample], path: Path) -> str:
    figure = Figure(figsize=(7, 5))
    axes = figure.add_subplot()
    tracks: dict[str, list[EntitySample]] = {}
    for sample in samples:
        tracks.setdefault(sample.entity, []).append(sample)
    for entity, track in sorted(tracks.items()):
        axes.plot([s.x for s in track], [s.y for s in track], linewidth=1,
                  color=ROLE_COLOURS.get(track[0].role, 'gray'))
        axes.annotate(entity, (track[-1].x, track[-1].y), fontsize=7)
    axes.set_aspect('equal', adjustable='datalim')
    axes.set_xlabel('east (m)')
    axes.set_ylabel('north (m)')
    axes.set_title('ground truth: intruders red, authorized green, own vehicles blue', fontsize=9)
    return _save(figure, path)


def plot_cpu(nodes: Sequence[NodeCpu], path: Path) -> str:
    figure = Figure(figsize=(7, 0.8 + 0.35 * max(1, len(nodes))))
    axes = figure.add_subplot()
    axes.barh([n.node for n in nodes], [100.0 * n.share for n in nodes])
    axes.invert_yaxis()
    axes.set_xlabel('CPU, % of one core over the run')
    return _save(figure, path)


def plot_rtf(clock: Sequence[ClockSample], path: Path) -> str:
    figure = Figure(figsize=(7, 3))
    axes = figure.add_subplot()
    axes.plot([c.wall for c in clock], [c.sim for c in clock])
    axes.set_xlabel('wall time (s)')
    axes.set_ylabel('simulated time (s)')
    return _save(figure, path)


# ---------------------------------------------------------------- the document

def _summary(scenario: Scenario, info: RunInfo, log: EventLog) -> list[str]:
    rtf = real_time_factor(log.of(ClockSample))
    clock = log.of(ClockSample)
    simulated = clock[-1].sim - clock[0].sim if len(clock) > 1 else 0.0
    rows = [
        ['scenario', f'{scenario.name} (`{Path(scenario.file).name}`)'],
        ['world', scenario.world],
        ['seed', str(scenario.seed)],
        ['started', info.started],
        ['simulated', f'{simulated:.1f} s of {scenario.duration:g} s asked'],
        ['wall time', f'{info.wall_duration:.1f} s'],
        ['real-time factor', '—' if rtf is None else f'{rtf:.2f} (asked {scenario.real_time_factor:g})'],
        ['camera rate scale', f'{scenario.camera_rate_scale:g}'],
        ['recordings', ', '.join(f'`{r}`' for r in info.recordings) or 'none'],
    ]
    lines = [scenario.description, ''] if scenario.description else []
    lines += _table(['', ''], rows)
    lines += [''] + [f'- Note: {note}' for note in info.notes]
    return lines


def _intrusions(results: Sequence[IntrusionResult]) -> list[str]:
    if not results:
        return ['The scenario scores no intrusion.']
    rows = [[r.actor, ', '.join(r.expect),
             '—' if r.onset is None else f'{r.onset:.1f} s', _seconds(r.detect),
             _seconds(r.alert) + (f' ({r.alert_category})' if r.alert_category else ''),
             _seconds(r.on_scene) + (f' ({r.vehicle})' if r.vehicle else '')]
            for r in results]
    lines = _table(['actor', 'expected alerts', 'in view at', 'time to detect',
                    'time to alert', 'first vehicle on scene'], rows)
    missed = [r.actor for r in results if r.missed]
    unseen = [r.actor for r in results if r.onset is None]
    lines += ['', 'Times count from the moment the actor came into view of a camera; — means '
                  'it did not happen within the run.']
    if missed:
        lines.append(f'**Missed** (in view, never alerted): {", ".join(missed)}.')
    if unseen:
        lines.append(f'Never in view of any camera during the run: {", ".join(unseen)}.')
    return lines


def _false_alerts(log: EventLog) -> list[str]:
    alerts = false_alerts(log)
    if not alerts:
        return ['None: every threat alert was raised near an unauthorized actor.']
    return [f'{len(alerts)} false alert(s):', ''] + _table(
        ['t', 'alert', 'category', 'severity', 'description'],
        [[f'{a.t:.1f} s', a.alert_id, a.category, SEVERITY_NAMES.get(a.severity, '?'),
          a.description] for a in alerts])


def _estop(log: EventLog) -> list[str]:
    results = estop_results(log)
    if not results:
        return ['The scenario requested no e-stop.']
    return _table(['requested at', 'status engaged after (wall)', 'vehicles stopped after (wall)',
                   'vehicles moving'],
                  [[f'{r.requested_at:.1f} s', _seconds(r.status_latency),
                    _seconds(r.stopped_latency) if r.moving else 'no vehicle was moving',
                    ', '.join(r.moving) or 'none'] for r in results])


def _faults(log: EventLog) -> list[str]:
    lines = []
    cuts = link_cut_results(log)
    if cuts:
        lines += ['Vehicle links cut (simulated seconds from the cut):', '']
        lines += _table(['vehicle', 'cut at', 'reported lost after', 'safe after', 'how'],
                        [[c.vehicle, f'{c.cut_at:.1f} s', _seconds(c.reported_lost),
                          _seconds(c.safe), c.how] for c in cuts])
        lines.append('')
    restarts = restart_results(log)
    if restarts:
        lines += ['Nodes killed with SIGKILL (wall seconds until a new process heartbeat):', '']
        lines += _table(['node', 'killed at', 'back after'],
                        [[r.node, f'{r.killed_at:.1f} s', _seconds(r.back_after)]
                         for r in restarts])
    return lines or ['No link was cut and no node was killed.']


def _timeline(log: EventLog) -> list[str]:
    entries = build_timeline(log)
    if not entries:
        return ['Nothing was observed.']
    start = simulation_start(log)

    def when(entry: Entry) -> str:
        return 'start-up' if start is None or entry.wall < start else f'{entry.t:.1f} s'
    return _table(['t (sim)', 'source', 'what'], [[when(e), e.source, e.text] for e in entries])


def render_report(log: EventLog, scenario: Scenario, info: RunInfo, out: Path) -> Path:
    """Write report.md and its plots into ``out``; returns the report's path."""
    out.mkdir(parents=True, exist_ok=True)
    results = intrusion_results(log, scenario.intrusions)
    nodes = cpu_per_node(log.of(CpuRecord), info.wall_duration)
    clock = log.of(ClockSample)
    sections: dict[str, list[str]] = {
        'Summary': _summary(scenario, info, log),
        'Timeline': _timeline(log),
        'Intrusions': [f'![intrusions]({plot_timeline(results, log, scenario.duration, out / "timeline.png")})',
                       ''] + _intrusions(results),
        'False alerts': _false_alerts(log),
        'E-stop': _estop(log),
        'Injected faults': _faults(log),
        'CPU per node': ([f'![cpu]({plot_cpu(nodes, out / "cpu.png")})', ''] + _table(
            ['node', 'CPU', 'of one core', 'processes'],
            [[n.node, f'{n.cpu:.1f} s', f'{100 * n.share:.0f} %', str(n.processes)]
             for n in nodes])) if nodes else ['No process was measured.'],
        'Real-time factor': [f'![real-time factor]({plot_rtf(clock, out / "rtf.png")})']
        if len(clock) > 1 else ['The simulation clock was not received.'],
    }
    samples = log.of(EntitySample)
    if samples:
        sections['Summary'] += ['', f'![map]({plot_map(samples, out / "map.png")})']
    lines = [f'# Scenario report: {scenario.name}', '']
    for title in SECTIONS:
        lines += [f'## {title}', '', *sections[title], '']
    path = out / REPORT_NAME
    path.write_text('\n'.join(lines), encoding='utf-8')
    return path
