"""Sentinel's runner for ROS 2 XML launch files, for installs without ``ros2 launch``.

``description`` turns a launch file into resolved :class:`ProcessSpec` values,
``supervisor`` runs them, and ``cli`` ties both into ``sentinel-launch``.
"""

from .description import (ArgumentError, ArgumentSpec, LaunchDescription, LaunchError,
                          LaunchFileError, ProcessSpec, load)

__all__ = [
    'ArgumentError',
    'ArgumentSpec',
    'LaunchDescription',
    'LaunchError',
    'LaunchFileError',
    'ProcessSpec',
    'load',
]
