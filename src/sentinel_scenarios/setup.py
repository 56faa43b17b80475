"""Sentinel scenarios: scripted end-to-end runs of the whole system, with a report."""

from setuptools import find_packages, setup

PACKAGE = 'sentinel_scenarios'

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
    description='Sentinel scenarios: scripted end-to-end runs of the whole system, with a report.',
    license='Apache-2.0',
    extras_require={'test': ['pytest', 'hypothesis']},
    entry_points={
        'console_scripts': [
            'sentinel-demo = sentinel_scenarios.cli:exit_main',
        ],
    },
)
