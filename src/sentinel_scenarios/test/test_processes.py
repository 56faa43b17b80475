"""Which node a process runs, from the launcher's command line, and what it costs."""

import subprocess
import sys
import time

import psutil

from sentinel_scenarios.processes import CpuMeter, node_name


def test_node_names_come_from_the_remapping_arguments():
    cmd = ['/venv/lib/sentinel_perception/detector', '--ros-args', '-r', '__node:=detector',
           '-r', '__ns:=/perception', '-p', 'site_config:=x.yaml']
    assert node_name(cmd) == '/perception/detector'
    assert node_name(['talker', '--ros-args', '-r', '__node:=talker']) == '/talker'
    assert node_name(['python', '-m', 'pytest']) is None


def test_cpu_counts_from_the_start_of_the_measured_part():
    meter = CpuMeter()
    worker = subprocess.Popen([sys.executable, '-c', 'import time\nwhile True: pass', '--ros-args',
                               '-r', '__node:=busy'])
    def used() -> float:
        times = psutil.Process(worker.pid).cpu_times()
        return times.user + times.system

    try:
        time.sleep(1.5)
        before_start = used()
        meter.start([worker.pid])
        time.sleep(1.0)
        meter.sample([worker.pid])
        [record] = meter.records()
        at_end = used()
    finally:
        worker.kill()
        worker.wait()
    assert record.node == '/busy' and record.pid == worker.pid
    assert before_start > 0.0
    # Only what the busy loop used after start() counts.
    assert 0.0 < record.cpu <= at_end - before_start + 0.02
