"""``sentinel-demo``: run a scenario against the whole system and write its report.

    sentinel-demo scenarios/substation_intruder.yaml [--out DIR] [--duration S]
    sentinel-demo --check scenarios/*.yaml          # validate only, start nothing
    sentinel-demo --report-only DIR SCENARIO        # re-render DIR/report.md from DIR/events.jsonl

Exit status: 0 when the report was written (whatever it found), 2 for a bad
scenario or option, 1 when the run could not take place.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from sentinel_launch.description import LaunchError, load
from sentinel_scenarios.event_log import EventLog, LogError
from sentinel_scenarios.report import RunInfo, render_report
from sentinel_scenarios.runner import RunError, RunOptions, node_names, run_scenario
from sentinel_scenarios.scenario import Scenario, ScenarioError, check_targets, load_scenario
from sentinel_sim.site_config import SiteConfigError, load_site
from sentinel_sim.world import WorldError

# The repository this package was installed from in editable mode, for the defaults below.
REPO = Path(__file__).resolve().parents[3]
LOG = logging.getLogger('sentinel-demo')


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='sentinel-demo',
        description='Run a scenario against the whole Sentinel system and write its report.')
    parser.add_argument('scenarios', nargs='+', type=Path, help='scenario file(s) (YAML)')
    parser.add_argument('--check', action='store_true',
                        help='validate the scenario files against their worlds and the launch '
                             'file; start nothing')
    parser.add_argument('--out', type=Path, help='output directory (default: '
                        '<data-dir>/scenarios/<name>-<UTC time>)')
    parser.add_argument('--data-dir', type=Path,
                        default=Path.home() / '.local/share/sentinel',
                        help='where default output directories go (default: %(default)s)')
    parser.add_argument('--launch', type=Path, default=REPO / 'launch' / 'sentinel.launch.xml',
                        help='launch file of the whole system (default: %(default)s)')
    parser.add_argument('--config-dir', type=Path, default=REPO / 'config',
                        help='configuration to copy for the run (default: %(default)s)')
    parser.add_argument('--duration', type=float, help='simulated seconds, instead of the '
                                                       "scenario's (events after it are skipped)")
    parser.add_argument('--real-time-factor', type=float,
                        help="override the scenario's real_time_factor")
    parser.add_argument('--camera-rate-scale', type=float,
                        help="override the scenario's camera_rate_scale")
    parser.add_argument('--startup-timeout', type=float, default=300.0,
                        help='wall seconds for every node to heartbeat (default: %(default)s)')
    parser.add_argument('--wall-limit', type=float,
                        help='stop the simulated part after this many wall seconds')
    parser.add_argument('--report-only', type=Path, metavar='DIR',
                        help='re-render DIR/report.md from DIR/events.jsonl and DIR/run.json')
    return parser


def _check(scenario: Scenario, launch: Path, config_dir: Path) -> None:
    """Names in the scenario exist in its world and in the launch file."""
    site_file = config_dir / 'sites' / f'{scenario.world}.yaml'
    if not site_file.exists():
        raise ScenarioError(scenario.file, 'world', f'no site configuration {site_file}')
    _, world = load_site(site_file)
    nodes = node_names(load(launch, {'world': scenario.world}).processes)
    check_targets(scenario, vehicles={v.name for v in world.vehicles},
                  cameras={c.name for c in world.cameras}, actors={a.name for a in world.actors},
                  nodes=nodes)


def _override(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    changes: dict[str, object] = {}
    if args.duration is not None:
        if args.duration <= 0:
            raise ScenarioError(scenario.file, '--duration', 'must be > 0')
        changes['duration'] = args.duration
        changes['events'] = tuple(e for e in scenario.events if e.at <= args.duration)
    if args.real_time_factor is not None:
        if not 0 <= args.real_time_factor <= 100:
            raise ScenarioError(scenario.file, '--real-time-factor', 'must be in [0, 100]')
        changes['real_time_factor'] = args.real_time_factor
    if args.camera_rate_scale is not None:
        if not 0 < args.camera_rate_scale <= 10:
            raise ScenarioError(scenario.file, '--camera-rate-scale', 'must be in (0, 10]')
        changes['camera_rate_scale'] = args.camera_rate_scale
    return replace(scenario, **changes)


def _report_only(scenario: Scenario, directory: Path) -> Path:
    info = RunInfo(**json.loads((directory / 'run.json').read_text(encoding='utf-8')))
    return render_report(EventLog.read(directory / 'events.jsonl'), scenario,
                         replace(info, recordings=tuple(info.recordings),
                                 notes=tuple(info.notes)), directory)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(name)s: %(message)s')
    args = _parser().parse_args(argv)
    try:
        scenarios = [_override(load_scenario(path), args) for path in args.scenarios]
        for scenario in scenarios:
            _check(scenario, args.launch, args.config_dir)
    except (ScenarioError, SiteConfigError, WorldError, LaunchError) as error:
        LOG.error('%s', error)
        return 2
    if args.check:
        LOG.info('%d scenario(s) valid', len(scenarios))
        return 0
    if args.report_only is not None:
        if len(scenarios) != 1:
            LOG.error('--report-only takes exactly one scenario')
            return 2
        try:
            LOG.info('report: %s', _report_only(scenarios[0], args.report_only))
        except (OSError, LogError, TypeError, json.JSONDecodeError) as error:
            LOG.error('cannot re-render %s: %s', args.report_only, error)
            return 1
        return 0
    if args.out is not None and len(scenarios) > 1:
        LOG.error('--out takes one scenario; give them one at a time')
        return 2
    status = 0
    for scenario in scenarios:
        stamp = datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')
        out = args.out or args.data_dir / 'scenarios' / f'{scenario.name}-{stamp}'
        LOG.info('running %s for %g simulated s into %s (domain %s)', scenario.name,
                 scenario.duration, out, os.environ.get('ROS_DOMAIN_ID', '0'))
        try:
            report = run_scenario(scenario, RunOptions(
                launch_file=args.launch.resolve(), config_dir=args.config_dir.resolve(),
                out=out.resolve(), startup_timeout=args.startup_timeout,
                wall_limit=args.wall_limit))
        except RunError as error:
            LOG.error('%s: %s', scenario.name, error)
            status = 1
            continue
        LOG.info('report: %s', report)
    return status


if __name__ == '__main__':
    raise SystemExit(main())


def exit_main() -> None:
    """``sentinel-demo``'s entry point: ``main``, then leave without running destructors.

    Every output is written and closed when ``main`` returns; what is left is the
    DDS participant's teardown in the C++ static destructors, which can block
    forever after a Fast DDS deadlock (see ``runner._release_dds``).
    """
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
