"""Settings shared by every test in the repository."""

from hypothesis import settings

# Property tests check logic, not speed: on a loaded 2-core machine a single example can
# exceed hypothesis' default 200 ms deadline without anything being wrong. Timing goals
# are measured by the benchmarks in bench/.
settings.register_profile('sentinel', deadline=None)
settings.load_profile('sentinel')
