"""How a node process ends: a shutdown race is a normal end, a failure is not."""

from __future__ import annotations

import pytest
import rclpy
from rclpy.node import Node

from sentinel_common.entry_point import DDS_PROFILE_VARIABLE, EXIT_CONFIGURATION_ERROR, run_node


def _node_failing(after_shutdown: bool) -> Node:
    """A node whose first timer callback raises what a conversion racing Ctrl-C raises."""
    node = Node('entry_point_test')

    def fail() -> None:
        if after_shutdown:
            rclpy.shutdown()   # what rclpy's SIGINT handler does
        raise RuntimeError("Unable to convert call argument '0' to Python object")

    node.create_timer(0.01, fail)
    return node


def test_an_error_racing_the_shutdown_is_a_normal_end():
    assert run_node(lambda: _node_failing(after_shutdown=True), []) == 0
    assert not rclpy.ok()


def test_the_same_error_while_running_is_a_failure():
    with pytest.raises(RuntimeError, match='Unable to convert'):
        run_node(lambda: _node_failing(after_shutdown=False), [])
    assert not rclpy.ok()   # cleaned up all the same


def test_a_missing_dds_profile_file_stops_the_node_before_it_starts(monkeypatch, tmp_path):
    made: list[Node] = []
    monkeypatch.setenv(DDS_PROFILE_VARIABLE, str(tmp_path / 'fastdds.xml'))
    assert run_node(lambda: made.append(Node('never')) or made[-1], []) == EXIT_CONFIGURATION_ERROR
    assert made == [] and not rclpy.ok()
