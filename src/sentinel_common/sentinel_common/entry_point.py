"""The one way every Sentinel node process starts and stops.

Ctrl-C (the launcher sends SIGINT) and an external rclpy shutdown are normal
ends of a node's life, not errors; a configuration problem is one fatal log
line and exit status 2 (the launcher shows it; respawning will not fix it);
anything else propagates with a traceback and a non-zero exit so the launcher
can respawn the node.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from sentinel_common.parameters import StartupError

# Exit status of a node that could not start because of its configuration.
EXIT_CONFIGURATION_ERROR = 2
# Environment variable naming the Fast DDS profile file (config/fastdds.xml in the stack).
DDS_PROFILE_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'


def check_dds_profile() -> None:
    """Refuse to start when the Fast DDS profile file the environment names is missing.

    Why: Fast DDS falls back to its built-in transports without a word when the
    file is not there, and with those, camera frames of a few MB stop arriving
    between processes (best effort loses all of them; see config/fastdds.xml).
    A node that starts anyway looks healthy and sees nothing.
    """
    named = os.environ.get(DDS_PROFILE_VARIABLE, '')
    if named and not Path(named).is_file():
        raise StartupError(f'{DDS_PROFILE_VARIABLE}={named}: no such file (the DDS transport '
                           'profile; the stack ships config/fastdds.xml)')


def run_node(make_node: Callable[[], Node], args: list[str] | None = None,
             make_executor: Callable[[], Executor] = SingleThreadedExecutor,
             name: str = 'sentinel') -> int:
    """Initialise rclpy, spin the node until shutdown, and clean up; returns an exit code.

    A single-threaded executor by default keeps the callbacks of one node
    sequential, which is what the thin node wrappers assume. try/finally
    rather than rclpy's context manager so that the code runs on Jazzy as
    well as Kilted. `name` labels the fatal log line of a startup error.
    """
    rclpy.init(args=args)
    node: Node | None = None
    try:
        check_dds_profile()
        node = make_node()
        executor = make_executor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except StartupError as error:
        rclpy.logging.get_logger(name).fatal(f'cannot start: {error}')
        return EXIT_CONFIGURATION_ERROR
    except RuntimeError:
        # rclpy's RCLError, or pybind11's "Unable to convert call argument" when Ctrl-C lands
        # while a message is being taken: once the context is shut down, callbacks raced the
        # shutdown and it is a normal end; before that, a real failure.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
