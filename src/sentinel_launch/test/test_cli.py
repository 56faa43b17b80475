"""The sentinel-launch command line, run in-process through main()."""

import shlex
import sys

import pytest

from sentinel_launch.cli import main

LAUNCH = """
    <launch>
      <arg name="robot" description="robot to drive"/>
      <arg name="rate" default="10" description="publish rate in Hz"/>
      <node pkg="fake_pkg" exec="talker" name="talker" namespace="$(var robot)">
        <param name="rate" value="$(var rate)"/>
      </node>
      <executable cmd="echo hi" name="greeter" output="screen" respawn="true"/>
    </launch>
"""


@pytest.fixture
def launch_file(write, environ, monkeypatch):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return write('cli.launch.xml', LAUNCH)


def test_print_shows_resolved_processes_without_starting_them(launch_file, prefix, capsys):
    assert main([str(launch_file), 'robot:=r1', 'rate:=5', '--print']) == 0
    out = capsys.readouterr().out
    talker = shlex.join([str(prefix / 'lib/fake_pkg/talker'), '--ros-args',
                         '-r', '__node:=talker', '-r', '__ns:=/r1', '-p', 'rate:=5'])
    assert f'  cmd: {talker}\n' in out
    assert 'talker:\n  kind: node\n' in out
    assert f'  from: {launch_file}:4\n' in out
    assert 'greeter:\n  kind: executable\n' in out
    assert '  respawn: yes, after 0 s\n' in out


def test_show_args_lists_names_defaults_and_descriptions(launch_file, capsys):
    assert main(['--show-args', str(launch_file)]) == 0
    out = capsys.readouterr().out
    assert '  robot (required)\n      robot to drive\n' in out
    assert "  rate (default: '10')\n      publish rate in Hz\n" in out


def test_missing_required_argument_lists_available_ones(launch_file, capsys):
    assert main([str(launch_file), '--print']) == 2
    err = capsys.readouterr().err
    assert f"{launch_file}:2: <arg> 'robot' is required but was not given" in err
    assert 'Available arguments:\n  robot (required)\n      robot to drive\n' in err
    assert "  rate (default: '10')\n      publish rate in Hz" in err


def test_unknown_argument_is_an_error(launch_file, capsys):
    assert main([str(launch_file), 'robot:=r1', 'speed:=3', '-p']) == 2
    err = capsys.readouterr().err
    assert 'unknown launch argument(s): speed' in err
    assert 'publish rate in Hz' in err


def test_malformed_override_is_a_usage_error(launch_file, capsys):
    assert main([str(launch_file), 'robot=r1']) == 2
    assert "expected a launch argument as NAME:=VALUE, got 'robot=r1'" in capsys.readouterr().err


def test_launch_file_error_is_reported_without_traceback(write, capsys):
    path = write('bad.launch.xml', '<launch>\n  <nodes/>\n</launch>\n')
    assert main([str(path), '--print']) == 1
    err = capsys.readouterr().err
    assert err.startswith(f'sentinel-launch: error: {path}:2: <nodes>: unknown')
    assert 'Traceback' not in err


def test_help_and_bad_options(capsys):
    assert main(['--help']) == 0
    assert 'NAME:=VALUE' in capsys.readouterr().out
    assert main(['x.launch.xml', '--grace-period', 'soon']) == 2


def test_run_returns_failure_when_a_process_fails(write, tmp_path, capsys):
    path = write('run.launch.xml', f"""
        <launch>
          <executable cmd="{sys.executable} -c 'print(42); raise SystemExit(3)'"
                      name="answer" output="screen"/>
        </launch>
    """)
    assert main([str(path), '--log-dir', str(tmp_path / 'logs')]) == 1
    captured = capsys.readouterr()
    assert '[answer] 42\n' in captured.out
    assert '[answer] exited with code 3' in captured.err
