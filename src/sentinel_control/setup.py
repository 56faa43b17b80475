"""Sentinel control: MAVLink vehicle interface and mission control (tasks, patrols, dispatch)."""

from setuptools import find_packages, setup

PACKAGE = 'sentinel_control'

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
    description='Sentinel control: MAVLink vehicle interface and mission control (tasks, patrols, dispatch).',
    license='Apache-2.0',
    extras_require={'test': ['pytest', 'hypothesis']},
    entry_points={
        'console_scripts': [
            'vehicle_interface = sentinel_control.vehicle_interface_node:main',
            'mission_control = sentinel_control.mission_control_node:main',
        ],
    },
)
