"""Process supervision, end to end: the launcher runs as a subprocess on small scripts.

Children report their pids through files so the tests can check, after the
launcher is gone, that nothing it started is still running.
"""

import io
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sentinel_launch.description import ProcessSpec
from sentinel_launch.supervisor import OutputRouter, Supervisor, live_process_groups

PACKAGE_ROOT = Path(__file__).resolve().parents[1]

try:
    import psutil
except ImportError:  # /proc is enough on Linux
    psutil = None

SCRIPTS = {
    # Prints a line on each stream and exits 0.
    'printer.py': """
        import sys
        print('hello stdout')
        print('hello stderr', file=sys.stderr)
    """,
    # Records each start in a file, then exits with the given code.
    'crasher.py': """
        import os, sys
        with open(sys.argv[1], 'a') as f:
            f.write(f'{os.getpid()}\\n')
        print('crashing', flush=True)
        sys.exit(int(sys.argv[2]))
    """,
    # Writes its pid, then sleeps until signalled (SIGINT ends it).
    'sleeper.py': """
        import os, sys, time
        open(sys.argv[1], 'w').write(str(os.getpid()))
        time.sleep(600)
    """,
    # Ignores SIGINT and starts a grandchild that ignores SIGINT and SIGTERM.
    'stubborn.py': """
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        subprocess.Popen([sys.executable, sys.argv[0].replace('stubborn', 'grandchild'),
                          sys.argv[2]])
        open(sys.argv[1], 'w').write(str(os.getpid()))
        time.sleep(600)
    """,
    'grandchild.py': """
        import os, signal, sys, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(sys.argv[1], 'w').write(str(os.getpid()))
        time.sleep(600)
    """,
    # Starts a grandchild, waits until it runs, and exits leaving it behind.
    'forker.py': """
        import os, subprocess, sys, time
        subprocess.Popen([sys.executable, sys.argv[0].replace('forker', 'sleeper'),
                          sys.argv[1]])
        while not os.path.exists(sys.argv[1]):
            time.sleep(0.02)
    """,
}


def alive(pid: int) -> bool:
    """True while ``pid`` is a running (not zombie) process."""
    if psutil is not None:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
    try:
        stat = Path(f'/proc/{pid}/stat').read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rpartition(b')')[2].split()[0] not in (b'Z', b'X')


def wait_for(condition, timeout: float = 10.0, what: str = 'condition'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f'timed out after {timeout} s waiting for {what}')


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.strip() else None


class Launcher:
    """sentinel-launch in a subprocess, its output captured in files."""

    def __init__(self, tmp_path: Path, launch_file: Path, *options: str) -> None:
        self.stdout_path = tmp_path / 'launcher.stdout'
        self.stderr_path = tmp_path / 'launcher.stderr'
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT),
                                                           env.get('PYTHONPATH')]))
        env.pop('NO_COLOR', None)
        with open(self.stdout_path, 'w') as out, open(self.stderr_path, 'w') as err:
            self.process = subprocess.Popen(
                [sys.executable, '-m', 'sentinel_launch', str(launch_file),
                 '--grace-period', '1', '--term-timeout', '1',
                 '--log-dir', str(tmp_path / 'logs'), *options],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait(self, timeout: float = 15.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f'launcher still running; stderr:\n{self.stderr}') from None

    def signal(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.wait()


@pytest.fixture
def scripts(tmp_path: Path):
    """Write the helper scripts; return a function that builds a quoted command."""
    for name, body in SCRIPTS.items():
        (tmp_path / name).write_text(textwrap.dedent(body))

    def command(script: str, *args) -> str:
        return shlex.join([sys.executable, str(tmp_path / script), *map(str, args)])
    return command


@pytest.fixture
def launch(tmp_path: Path):
    """Start launchers; whatever a failing test leaves running is killed afterwards."""
    started: list[Launcher] = []

    def launch(body: str, *options: str) -> Launcher:
        path = tmp_path / 'test.launch.xml'
        path.write_text(textwrap.dedent(body))
        started.append(Launcher(tmp_path, path, *options))
        return started[-1]
    yield launch
    for launcher in started:
        if launcher.process.poll() is None:
            launcher.process.kill()
            launcher.process.wait()
    for path in tmp_path.glob('*.pid'):
        pid = read_pid(path)
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_output_lines_are_prefixed_with_the_process_name(launch, scripts, tmp_path):
    launcher = launch(f"""
        <launch>
          <executable cmd="{scripts('printer.py')}" name="alpha" output="screen"/>
          <executable cmd="{scripts('printer.py')}" name="beta" output="both"/>
          <executable cmd="{scripts('printer.py')}" name="gamma" output="log"/>
          <executable cmd="{scripts('printer.py')}" name="delta"/>
        </launch>
    """)
    assert launcher.wait() == 0  # everything exited with 0 by itself
    stdout, stderr = launcher.stdout, launcher.stderr
    assert '[alpha] hello stdout\n' in stdout and '[alpha] hello stderr\n' in stderr
    assert '[beta] hello stdout\n' in stdout and '[beta] hello stderr\n' in stderr
    # output="log" (also the default): stdout only to the log file, stderr to both.
    for name in ('gamma', 'delta'):
        assert f'[{name}] hello stdout' not in stdout
        assert f'[{name}] hello stderr\n' in stderr
        log = (tmp_path / 'logs' / f'{name}.log').read_text()
        assert 'hello stdout\n' in log and 'hello stderr\n' in log
    assert not (tmp_path / 'logs' / 'alpha.log').exists()
    assert '\x1b[' not in stdout + stderr  # not a terminal: no colour
    assert '[sentinel-launch] INFO: [alpha] started (pid ' in stderr


def test_respawn_restarts_a_crashing_process(launch, scripts, tmp_path):
    starts = tmp_path / 'starts.txt'
    launcher = launch(f"""
        <launch>
          <executable cmd="{scripts('crasher.py', starts, 1)}" name="crasher"
                      respawn="true" respawn_delay="0"/>
        </launch>
    """)
    wait_for(lambda: starts.exists() and len(starts.read_text().split()) >= 3,
             what='three starts of the crashing process')
    assert launcher.process.poll() is None
    assert launcher.signal(signal.SIGINT) == 0
    stderr = launcher.stderr
    # A delay of 0 is raised to the floor, then doubles while the crashes go on.
    assert '[crasher] exited with code 1' in stderr
    assert '[crasher] respawning in 0.5 s (restart 1)' in stderr
    assert '[crasher] respawning in 1.0 s (restart 2)' in stderr
    pids = [int(pid) for pid in starts.read_text().split()]
    assert len(set(pids)) == len(pids) >= 3
    assert not any(alive(pid) for pid in pids)


def test_exit_without_respawn_is_reported_and_others_keep_running(launch, scripts, tmp_path):
    starts, sleeper_pid = tmp_path / 'starts.txt', tmp_path / 'sleeper.pid'
    launcher = launch(f"""
        <launch>
          <executable cmd="{scripts('crasher.py', starts, 3)}" name="crasher"/>
          <executable cmd="{scripts('sleeper.py', sleeper_pid)}" name="sleeper"/>
        </launch>
    """)
    wait_for(lambda: '[crasher] exited with code 3' in launcher.stderr, what='exit report')
    pid = wait_for(lambda: read_pid(sleeper_pid), what='sleeper pid')
    time.sleep(1.0)  # longer than the respawn floor: a restart would show by now
    assert launcher.process.poll() is None
    assert alive(pid)
    assert len(starts.read_text().split()) == 1
    assert 'not respawning' in launcher.stderr
    assert launcher.signal(signal.SIGINT) == 0
    assert not alive(pid)


def test_sigint_leaves_no_process_behind(launch, scripts, tmp_path):
    pids = {name: tmp_path / f'{name}.pid' for name in ('stubborn', 'grandchild', 'sleeper')}
    launcher = launch(f"""
        <launch>
          <executable cmd="{scripts('stubborn.py', pids['stubborn'], pids['grandchild'])}"
                      name="stubborn"/>
          <executable cmd="{scripts('sleeper.py', pids['sleeper'])}" name="sleeper"/>
        </launch>
    """)
    def all_pids():
        found = [read_pid(path) for path in pids.values()]
        return found if all(found) else None

    running = wait_for(all_pids, what='all pid files')
    assert all(alive(pid) for pid in running)
    started = time.monotonic()
    assert launcher.signal(signal.SIGINT) == 0
    # grace 1 s (SIGINT) + 1 s (SIGTERM) + SIGKILL, with room for slow machines
    assert time.monotonic() - started < 8
    assert [pid for pid in running if alive(pid)] == []
    stderr = launcher.stderr
    assert 'received SIGINT: stopping all processes' in stderr
    assert 'sending SIGTERM to stubborn' in stderr
    assert 'sending SIGKILL to stubborn' in stderr
    assert 'all processes have stopped' in stderr


def test_repeated_sigint_escalates_without_waiting(launch, scripts, tmp_path):
    pids = {name: tmp_path / f'{name}.pid' for name in ('stubborn', 'grandchild')}
    launcher = launch(f"""
        <launch>
          <executable cmd="{scripts('stubborn.py', pids['stubborn'], pids['grandchild'])}"
                      name="stubborn"/>
        </launch>
    """, '--grace-period', '60', '--term-timeout', '60')
    running = [wait_for(lambda path=path: read_pid(path), what=f'{path.name}')
               for path in pids.values()]
    started = time.monotonic()
    launcher.process.send_signal(signal.SIGINT)
    wait_for(lambda: 'sending SIGINT to stubborn' in launcher.stderr, what='SIGINT stage')
    launcher.process.send_signal(signal.SIGINT)
    wait_for(lambda: 'sending SIGTERM to stubborn' in launcher.stderr, what='SIGTERM stage')
    assert launcher.signal(signal.SIGINT) == 0
    assert time.monotonic() - started < 10  # far less than the 60 s timeouts
    assert 'received SIGINT again: escalating' in launcher.stderr
    assert 'sending SIGKILL to stubborn' in launcher.stderr
    assert [pid for pid in running if alive(pid)] == []


def test_sigterm_shuts_down_too(launch, scripts, tmp_path):
    pid_file = tmp_path / 'sleeper.pid'
    launcher = launch(f"""
        <launch>
          <executable cmd="{scripts('sleeper.py', pid_file)}" name="sleeper"/>
        </launch>
    """)
    pid = wait_for(lambda: read_pid(pid_file), what='sleeper pid')
    assert launcher.signal(signal.SIGTERM) == 0
    assert not alive(pid)
    assert 'sending SIGTERM' not in launcher.stderr  # SIGINT was enough


def test_processes_left_behind_by_an_exited_process_are_stopped(launch, scripts, tmp_path):
    pid_file = tmp_path / 'orphan.pid'
    launcher = launch(f"""
        <launch>
          <executable cmd="{scripts('forker.py', pid_file)}" name="forker"/>
        </launch>
    """)
    assert launcher.wait() == 0
    pid = read_pid(pid_file)
    assert pid is not None and not alive(pid)
    assert '[forker] exited but left processes in its group' in launcher.stderr


# -- in-process units -----------------------------------------------------------

class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def spec(name: str, output: str = 'screen') -> ProcessSpec:
    return ProcessSpec(name=name, cmd=('true',), output=output)


def test_prefixes_are_coloured_on_a_terminal_only():
    out, err = FakeTerminal(), io.StringIO()
    router = OutputRouter(out, err, environ={})
    router.write(spec('a'), 'stdout', 'one')
    router.write(spec('b'), 'stdout', 'two')
    router.write(spec('a'), 'stderr', 'three')
    lines = out.getvalue().splitlines()
    assert lines[0].startswith('\x1b[') and lines[0].endswith('[a]\x1b[0m one')
    assert lines[1].endswith('[b]\x1b[0m two')
    assert lines[0].split('m', 1)[0] != lines[1].split('m', 1)[0]  # distinct colours
    assert err.getvalue() == '[a] three\n'


def test_no_color_disables_colour():
    out = FakeTerminal()
    OutputRouter(out, io.StringIO(), environ={'NO_COLOR': '1'}).write(spec('a'), 'stdout', 'x')
    assert out.getvalue() == '[a] x\n'


def test_log_output_without_log_dir_still_shows():
    out = io.StringIO()
    OutputRouter(out, io.StringIO(), environ={}).write(spec('a', 'log'), 'stdout', 'x')
    assert out.getvalue() == '[a] x\n'


def test_respawn_delay_has_a_floor_and_a_capped_backoff():
    supervisor = Supervisor([], router=OutputRouter(io.StringIO(), io.StringIO()),
                            min_respawn_delay=0.5, max_respawn_delay=4.0)
    zero, slow = ProcessSpec('z', ('true',)), ProcessSpec('s', ('true',), respawn_delay=10.0)
    delay = supervisor._respawn_delay  # the policy itself, without waiting for it
    assert [delay(zero, n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [delay(slow, n) for n in (1, 2)] == [10.0, 10.0]  # never below what was asked


def test_live_process_groups_ignores_finished_groups():
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'],
                             start_new_session=True)
    try:
        assert live_process_groups([child.pid]) == {child.pid}
    finally:
        child.kill()
        child.wait()
    assert live_process_groups([child.pid]) == set()
    assert live_process_groups([]) == set()


def test_children_are_terminated_when_the_launcher_is_killed_outright(tmp_path):
    """SIGKILL gives the launcher no chance to clean up; the kernel must do it."""
    pid_file = tmp_path / 'child.pid'
    launch = tmp_path / 'orphan.launch.xml'
    launch.write_text(
        '<launch><executable name="sleeper" cmd="' + sys.executable + ' -c '
        '&quot;import os,time; open(\'' + str(pid_file) + '\',\'w\').write(str(os.getpid())); '
        'time.sleep(60)&quot;"/></launch>')
    launcher = subprocess.Popen([sys.executable, '-m', 'sentinel_launch', str(launch)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    raise AssertionError('child outlived a SIGKILLed launcher')
