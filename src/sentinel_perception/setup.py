"""Sentinel perception: YOLO detection, tracking, multi-sensor fusion, threat rules, drift monitoring."""

from setuptools import find_packages, setup

PACKAGE = 'sentinel_perception'

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
    description='Sentinel perception: YOLO detection, tracking, multi-sensor fusion, threat rules, drift monitoring.',
    license='Apache-2.0',
    extras_require={
        'test': ['pytest', 'hypothesis', 'onnx'],
        # Comparison backend of the detector (pulls in torch; not for the runtime install).
        'ultralytics': ['ultralytics'],
    },
    entry_points={
        'console_scripts': [
            'detector = sentinel_perception.detector_node:main',
            'fusion = sentinel_perception.fusion_node:main',
            'drift_monitor = sentinel_perception.drift_monitor_node:main',
            'sentinel-drift-baseline = sentinel_perception.drift_baseline:main',
        ],
    },
)
