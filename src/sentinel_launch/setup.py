"""Runs the project's ROS 2 XML launch files without the ros2 launch tool."""

from setuptools import find_packages, setup

PACKAGE = 'sentinel_launch'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
    ],
    install_requires=['setuptools'],
    python_requires='>=3.10',
    zip_safe=True,
    maintainer='Sentinel maintainers',
    maintainer_email='maintainers@sentinel-robotics.org',
    description='Runs the project\'s ROS 2 XML launch files without the ros2 launch tool.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'sentinel-launch = sentinel_launch.cli:main',
        ],
    },
)
