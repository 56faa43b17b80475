"""``sentinel-launch``: run a ROS 2 XML launch file without ``ros2 launch``.

This is the only module that prints; the rest of the package reports through
exceptions and ``logging``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .description import (ArgumentError, ArgumentSpec, LaunchError, ProcessSpec,
                          describe_arguments, load)
from .shared_memory import remove_stale_shared_memory
from .supervisor import OutputRouter, Supervisor

__all__ = ['main']

_LOG = logging.getLogger(__name__)
_ARGUMENT = re.compile(r'^([A-Za-z_][A-Za-z0-9_.\-]*):=(.*)$', re.DOTALL)
_handler: logging.Handler | None = None

EXIT_LAUNCH_ERROR = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='sentinel-launch',
        description='Run a ROS 2 XML launch file (the subset Sentinel uses) and '
                    'supervise its processes until Ctrl-C.',
        epilog='Exit status: 0 after a clean shutdown (or when every process exited '
               'with 0), 1 for launch file errors or failed processes, 2 for usage '
               'and launch argument errors.')
    parser.add_argument('launch_file', help='path to a .launch.xml file')
    parser.add_argument('arguments', nargs='*', metavar='NAME:=VALUE',
                        help='launch argument overrides')
    parser.add_argument('-s', '--show-args', action='store_true',
                        help='list the launch arguments and exit')
    parser.add_argument('-p', '--print', action='store_true', dest='print_only',
                        help='print the resolved processes and exit without starting them')
    parser.add_argument('--grace-period', type=_seconds, default=5.0, metavar='SECONDS',
                        help='how long processes get after SIGINT before SIGTERM '
                             '(default: %(default)s)')
    parser.add_argument('--term-timeout', type=_seconds, default=5.0, metavar='SECONDS',
                        help='how long processes get after SIGTERM before SIGKILL '
                             '(default: %(default)s)')
    parser.add_argument('--log-dir', type=Path, metavar='DIR',
                        help='where output="log"/"both" output goes (default: a new '
                             'directory under $ROS_LOG_DIR, $ROS_HOME/log or ~/.ros/log)')
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument('-v', '--verbose', action='store_true', help='debug logging')
    verbosity.add_argument('-q', '--quiet', action='store_true',
                           help='only warnings and errors from the launcher itself')
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < float('inf'):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got '{text}'")
    return value


def _configure_logging(level: int) -> None:
    global _handler
    logger = logging.getLogger('sentinel_launch')
    if _handler is not None:
        logger.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter('[sentinel-launch] %(levelname)s: %(message)s'))
    logger.addHandler(_handler)
    logger.setLevel(level)
    logger.propagate = False


def _overrides(words: Sequence[str]) -> dict[str, str]:
    result = {}
    for word in words:
        match = _ARGUMENT.match(word)
        if match is None:
            raise ValueError(f"expected a launch argument as NAME:=VALUE, got '{word}'")
        result[match.group(1)] = match.group(2)
    return result


def format_arguments(arguments: Sequence[ArgumentSpec]) -> str:
    """Human readable list of launch arguments, for --show-args and errors."""
    if not arguments:
        return '  (this launch file declares no arguments)'
    lines = []
    for argument in arguments:
        if argument.required:
            lines.append(f'  {argument.name} (required)')
        else:
            lines.append(f'  {argument.name} (default: {argument.default!r})')
        lines.append(f'      {argument.description or "no description given"}')
    return '\n'.join(lines)


def format_process(spec: ProcessSpec) -> str:
    """Human readable description of one resolved process, for --print."""
    respawn = f'yes, after {spec.respawn_delay:g} s' if spec.respawn else 'no'
    lines = [f'{spec.name}:',
             f'  kind: {spec.kind}',
             f'  from: {spec.location}',
             f'  output: {spec.output}',
             f'  respawn: {respawn}']
    if spec.env:
        lines.append('  env: ' + ' '.join(f'{k}={shlex.quote(v)}' for k, v in spec.env))
    lines.append(f'  cmd: {shlex.join(spec.cmd)}')
    return '\n'.join(lines)


def _default_log_dir(environ: Mapping[str, str]) -> Path:
    if environ.get('ROS_LOG_DIR'):
        root = Path(environ['ROS_LOG_DIR'])
    elif environ.get('ROS_HOME'):
        root = Path(environ['ROS_HOME'], 'log')
    else:
        root = Path.home() / '.ros' / 'log'
    stamp = time.strftime('%Y-%m-%d-%H-%M-%S')
    return root / f'sentinel-launch-{stamp}-{os.getpid()}'


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``sentinel-launch``; returns the process exit status."""
    parser = _parser()
    try:
        options = parser.parse_intermixed_args(args)
    except SystemExit as exc:  # --help or a usage error; argparse already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    _configure_logging(logging.DEBUG if options.verbose
                       else logging.WARNING if options.quiet else logging.INFO)
    try:
        overrides = _overrides(options.arguments)
    except ValueError as exc:
        print(f'sentinel-launch: error: {exc}', file=sys.stderr)
        return EXIT_USAGE

    try:
        if options.show_args:
            arguments = describe_arguments(options.launch_file, overrides)
            print(f'Arguments of {options.launch_file} (pass them as NAME:=VALUE):')
            print(format_arguments(arguments))
            return 0
        description = load(options.launch_file, overrides)
    except ArgumentError as exc:
        print(f'sentinel-launch: error: {exc}\nAvailable arguments:\n'
              f'{format_arguments(exc.available)}', file=sys.stderr)
        return EXIT_USAGE
    except LaunchError as exc:
        print(f'sentinel-launch: error: {exc}', file=sys.stderr)
        return EXIT_LAUNCH_ERROR

    if options.print_only:
        print('\n'.join(format_process(spec) for spec in description.processes)
              or '(nothing to launch)')
        return 0
    if not description.processes:
        _LOG.warning('%s starts no processes', description.file)
        return 0

    removed = remove_stale_shared_memory()
    if removed:
        _LOG.info('removed %d shared-memory files of DDS participants that no longer exist',
                  len(removed))
    router = OutputRouter(sys.stdout, sys.stderr,
                          log_dir=options.log_dir or _default_log_dir(os.environ))
    supervisor = Supervisor(description.processes, router=router,
                            grace_period=options.grace_period,
                            term_timeout=options.term_timeout)
    try:
        return asyncio.run(supervisor.run())
    except KeyboardInterrupt:  # only before the signal handlers are in place
        return 130
