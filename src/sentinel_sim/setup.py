"""Sentinel embedded simulator: MuJoCo physics, headless cameras and MAVLink autopilots for SDF worlds."""

from setuptools import find_packages, setup

PACKAGE = 'sentinel_sim'

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
    description='Sentinel embedded simulator: MuJoCo physics, headless cameras and MAVLink autopilots for SDF worlds.',
    license='Apache-2.0',
    extras_require={'test': ['pytest', 'hypothesis']},
    entry_points={
        'console_scripts': [
            'simulator = sentinel_sim.simulator_node:main',
        ],
    },
)
