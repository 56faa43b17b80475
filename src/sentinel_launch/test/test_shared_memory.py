"""The dead-segment sweep: what it removes, and everything it must leave alone."""

import mmap
import os
import time
from pathlib import Path

import pytest

from sentinel_launch.shared_memory import (files_in_use, remove_stale_shared_memory,
                                           stale_shared_memory)

def _segment(directory: Path, name: str, age_s: float = 3600.0) -> Path:
    path = directory / name
    path.write_bytes(b'\0' * 4096)
    os.utime(path, (time.time() - age_s, time.time() - age_s))
    return path


def _port(directory: Path, number: int) -> list[Path]:
    """A port's segment, its listener lock and its semaphore, all old."""
    return [_segment(directory, f'fastdds_port{number}'),
            _segment(directory, f'fastdds_port{number}_el'),
            _segment(directory, f'sem.fastdds_port{number}_mutex')]


def test_a_dead_port_goes_whole(tmp_path):
    files = _port(tmp_path, 7413)
    assert stale_shared_memory(tmp_path, in_use=set()) == sorted(files)
    assert remove_stale_shared_memory(tmp_path) == sorted(files)
    assert not list(tmp_path.iterdir())


def test_a_port_whose_lock_is_held_stays_with_all_its_files(tmp_path):
    segment, lock, semaphore = _port(tmp_path, 7413)
    dead = _port(tmp_path, 7415)
    assert stale_shared_memory(tmp_path, in_use={str(lock)}) == sorted(dead)
    assert segment.exists() and semaphore.exists()


def test_a_mapped_segment_is_seen_in_use_through_proc(tmp_path):
    """A writer that still maps a dead listener's port keeps it: the live mapping is read
    from /proc, the way a running participant's is."""
    segment = _segment(tmp_path, 'fastdds_port7413')
    with segment.open('r+b') as stream, mmap.mmap(stream.fileno(), 0):
        assert str(segment) in files_in_use()
        assert remove_stale_shared_memory(tmp_path) == []
    assert remove_stale_shared_memory(tmp_path) == [segment]


def test_an_open_lock_file_is_seen_in_use_through_proc(tmp_path):
    segment = _segment(tmp_path, 'fastdds_0123abcd')
    lock = _segment(tmp_path, 'fastdds_0123abcd_el')
    with lock.open('rb'):
        assert remove_stale_shared_memory(tmp_path) == []
    assert remove_stale_shared_memory(tmp_path) == [segment, lock]


def test_a_young_file_is_left_to_the_participant_creating_it(tmp_path):
    _segment(tmp_path, 'fastdds_port7413', age_s=1.0)
    _segment(tmp_path, 'fastdds_port7413_el')
    assert stale_shared_memory(tmp_path, in_use=set()) == []


@pytest.mark.parametrize('name', ['lttng-ust-wait-6', 'sem.other_mutex', 'mine_el', 'fastdd'])
def test_files_of_other_programs_are_never_touched(tmp_path, name):
    _segment(tmp_path, name)
    assert stale_shared_memory(tmp_path, in_use=set()) == []


def test_a_missing_directory_is_nothing_to_do(tmp_path):
    assert remove_stale_shared_memory(tmp_path / 'absent') == []
