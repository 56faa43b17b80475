"""Sentinel safety watchdog: command gate, geofences, battery, separation, heartbeats, emergency stop."""

from setuptools import find_packages, setup

PACKAGE = 'sentinel_safety'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='Sentinel maintainers',
    maintainer_email='maintainers@sentinel-robotics.org',
    description='Sentinel safety watchdog: command gate, geofences, battery, separation, heartbeats, emergency stop.',
    license='Apache-2.0',
    extras_require={'test': ['pytest', 'hypothesis']},
    entry_points={
        'console_scripts': [
            'safety_watchdog = sentinel_safety.safety_watchdog_node:main',
        ],
    },
)
