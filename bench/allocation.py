"""Benchmark: mission control's allocation with 100 vehicles and 50 open alerts, against a naive dispatcher.

What is timed, on the same fleet and alerts, in the same run:

  sentinel   ``MissionController`` (sentinel_control.mission) answering 50
             alerts: each creates an investigation that the allocator gives to
             the eligible vehicle with the best score (kind, capabilities,
             battery for trip, observation and return, priority, ETA). Timed as
             a burst (the 50 alerts arriving at once) and as a supervision tick
             with 50 investigations under way and 50 more waiting (the tick
             re-runs the allocator for every waiting task).
  allocator  ``allocation.choose`` alone, 50 times over the 100 candidates: the
             share of the above that is the allocation rule itself.
  baseline   the naive dispatcher: alerts in priority order, each to the nearest
             free vehicle by straight-line distance, nothing checked.

Besides the times, the baseline's choices are judged by the same rule: how
many send a vehicle of the wrong kind, without a camera, or without the
battery to come back with its reserve.

    .venv/bin/python bench/allocation.py [--vehicles 100] [--alerts 50] [--repeats 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from sentinel_control import allocation
from sentinel_control.mission import ALERT_ACKNOWLEDGED, AlertData, MissionController, MissionSettings
from sentinel_control.response_policy import ResponsePolicy, load_response_policy
from sentinel_control.tasks import TaskState

REPO = Path(__file__).resolve().parents[1]
POLICY = REPO / 'config' / 'response_policy.yaml'
SEED = 7                  # the fleet and the alerts are the same on every run
CATEGORIES = ('intrusion', 'perimeter_crossing', 'loitering', 'drone_incursion')   # alerts that dispatch
SITE_HALF_SIZE = (150.0, 100.0)   # m, the substation fence's half width and depth


def _fake_fleet() -> ModuleType:
    name = 'sentinel_control_bench_fake_fleet'
    if name not in sys.modules:
        path = REPO / 'src' / 'sentinel_control' / 'test' / 'fake_fleet.py'
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def scenario(vehicles: int, alerts: int) -> tuple[list[Any], list[AlertData]]:
    """A mixed fleet (70 % drones, some without a camera, batteries 20-100 %) and alerts across the site."""
    fleet = _fake_fleet()
    rng = random.Random(SEED)
    w, d = SITE_HALF_SIZE
    out = []
    for i in range(vehicles):
        make = fleet.drone if rng.random() < 0.7 else fleet.rover
        capabilities = frozenset({'camera'}) if rng.random() < 0.9 else frozenset()
        out.append(make(f'v{i:03d}', rng.uniform(-w, w), rng.uniform(-d, d), capabilities,
                        battery=rng.uniform(0.2, 1.0)))
    found = [AlertData(f'a{i:03d}', 2, rng.choice(CATEGORIES), 'bench', '',
                       (rng.uniform(-w, w), rng.uniform(-d, d), 0.0), ALERT_ACKNOWLEDGED, 'bench')
             for i in range(alerts)]
    return out, found


def _controller(policy: ResponsePolicy, fleet: list[Any]) -> MissionController:
    log = logging.getLogger('bench_allocation')
    log.propagate = False
    log.addHandler(logging.NullHandler())
    controller = MissionController(policy, [v.asset for v in fleet], MissionSettings(), log)
    for vehicle in fleet:
        controller.update_vehicle(vehicle.state(), 0.0)
    return controller


def _timed(repeats: int, prepare: Callable[[], Any], run: Callable[[Any], Any]) -> tuple[float, float, Any]:
    """Median and fastest seconds of ``run(prepare())`` over ``repeats`` (preparation not timed), the last result.

    The fastest run is the cost with the least interference from other processes on a shared machine.
    """
    times, result = [], None
    for _ in range(repeats):
        state = prepare()
        start = time.perf_counter()
        result = run(state)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), result


def burst(controller: MissionController, alerts: list[AlertData]) -> dict[str, str]:
    """Every alert at once; the vehicle each response got (or '')."""
    tasks = [controller.on_alert(alert, 0.0) for alert in alerts]
    return {a.alert_id: t.vehicle_id if t is not None and t.state is not TaskState.PENDING else ''
            for a, t in zip(alerts, tasks, strict=True)}


def candidates(policy: ResponsePolicy, fleet: list[Any]) -> list[allocation.Candidate]:
    return [allocation.Candidate(v.asset.vehicle_id, v.asset.kind, v.asset.capabilities, v.position,
                                 v.asset.home, v.battery, v.asset.battery_capacity_wh, True, True)
            for v in fleet]


def requirement(policy: ResponsePolicy, alert: AlertData) -> allocation.Requirement:
    rule = policy.categories[alert.category]
    return allocation.Requirement(rule.vehicle_kinds, rule.capabilities, alert.position, rule.observe_duration,
                                  rule.priority)


def allocator_only(policy: ResponsePolicy, pool: list[allocation.Candidate], alerts: list[AlertData]) -> None:
    for alert in alerts:
        allocation.choose(requirement(policy, alert), pool, policy.profiles)


def naive(policy: ResponsePolicy, fleet: list[Any], alerts: list[AlertData]) -> dict[str, str]:
    """Nearest free vehicle by straight-line distance, alerts in priority order; nothing checked."""
    free = {v.asset.vehicle_id: v.position for v in fleet}
    chosen = {}
    for alert in sorted(alerts, key=lambda a: -policy.categories[a.category].priority):
        if not free:
            break
        x, y, _ = alert.position
        best = min(free, key=lambda vid: math.hypot(free[vid][0] - x, free[vid][1] - y))
        chosen[alert.alert_id] = best
        del free[best]
    return chosen


def judge(policy: ResponsePolicy, fleet: list[Any], alerts: list[AlertData],
          chosen: dict[str, str]) -> tuple[int, float]:
    """Choices the allocation rule would refuse, and the mean ETA of the others (s)."""
    by_id = {c.vehicle_id: c for c in candidates(policy, fleet)}
    refused, etas = 0, []
    for alert in alerts:
        vid = chosen.get(alert.alert_id, '')
        if not vid:
            continue
        verdict = allocation.assess(by_id[vid], requirement(policy, alert), policy.profiles)
        if verdict.eligible:
            etas.append(verdict.eta)
        else:
            refused += 1
    return refused, statistics.mean(etas) if etas else math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--vehicles', type=int, default=100)
    parser.add_argument('--alerts', type=int, default=50)
    parser.add_argument('--repeats', type=int, default=20, help='timed repetitions; the median is printed')
    args = parser.parse_args()
    policy = load_response_policy(POLICY)
    fleet, alerts = scenario(args.vehicles, args.alerts)
    pool = candidates(policy, fleet)

    ours_s, ours_min, ours_choice = _timed(args.repeats, lambda: _controller(policy, fleet),
                                 lambda controller: burst(controller, alerts))

    def waiting() -> MissionController:
        """The burst under way, then as many perimeter crossings (drones only): those no free drone can
        take wait, and every tick runs the allocator for each of them again."""
        controller = _controller(policy, fleet)
        burst(controller, alerts)
        burst(controller, [AlertData(f'late{a.alert_id}', a.severity, 'perimeter_crossing', a.rule_id, '',
                                     a.position, a.state, a.acknowledged_by) for a in alerts])
        return controller

    tick_s, tick_min, _ = _timed(args.repeats, waiting, lambda controller: controller.tick(0.2))
    pending = sum(1 for t in waiting().book.live() if t.state is TaskState.PENDING)
    rule_s, rule_min, _ = _timed(args.repeats, lambda: None, lambda _: allocator_only(policy, pool, alerts))
    base_s, base_min, base_choice = _timed(args.repeats, lambda: None, lambda _: naive(policy, fleet, alerts))

    ours_refused, ours_eta = judge(policy, fleet, alerts, ours_choice)
    base_refused, base_eta = judge(policy, fleet, alerts, base_choice)
    answered = sum(1 for v in ours_choice.values() if v)
    print(f'{args.vehicles} vehicles, {args.alerts} alerts, median of {args.repeats} runs; '
          f'{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}')
    print(f'{"":34} | {"median ms":>9} | {"fastest ms":>10} | {"ms per alert":>12} | {"vs baseline":>11} | '
          f'{"assigned":>8} | {"rule-breaking":>13} | {"mean ETA s":>10}')
    rows = [(f'sentinel: {args.alerts} alerts at once', ours_s, ours_min, answered, ours_refused, ours_eta),
            (f'sentinel: tick, {pending} waiting', tick_s, tick_min, None, None, None),
            ('allocator rule alone', rule_s, rule_min, None, None, None),
            ('baseline: nearest free vehicle', base_s, base_min, len(base_choice), base_refused, base_eta)]
    for name, seconds, fastest, assigned, refused, eta in rows:
        print(f'{name:34} | {seconds * 1e3:9.2f} | {fastest * 1e3:10.2f} | {seconds * 1e3 / args.alerts:12.3f} | '
              f'{seconds / base_s:11.1f} | {"" if assigned is None else assigned:>8} | '
              f'{"" if refused is None else refused:>13} | {"" if eta is None else f"{eta:.1f}":>10}')
    print('(rule-breaking: choices the allocation rule refuses: wrong kind, no camera, or not enough '
          'battery to observe and come back with the reserve)')


if __name__ == '__main__':
    main()
