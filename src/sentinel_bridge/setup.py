"""Sentinel operator bridge: Foxglove live view, FastAPI override and audit, persistence and recording."""

from setuptools import find_packages, setup

PACKAGE = 'sentinel_bridge'

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
    description='Sentinel operator bridge: Foxglove live view, FastAPI override and audit, persistence and recording.',
    license='Apache-2.0',
    extras_require={'test': ['pytest', 'hypothesis', 'websockets', 'httpx', 'schemathesis']},
    entry_points={
        'console_scripts': [
            'foxglove_bridge = sentinel_bridge.foxglove_bridge_node:main',
            'operator_api = sentinel_bridge.operator_api_node:main',
            'sentinel-users = sentinel_bridge.users_cli:main',
            'recorder = sentinel_bridge.recorder_node:main',
        ],
    },
)
