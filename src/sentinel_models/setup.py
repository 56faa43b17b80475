"""Sentinel detection model lifecycle: simulator datasets, YOLO training, ONNX detector,
model registry."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = 'sentinel_models'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    # Read at run time (training.PACKAGE_MODEL_YAML).
    package_data={PACKAGE: ['model_configs/*.yaml']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/model_configs',
         [str(p) for p in sorted(Path(PACKAGE, 'model_configs').glob('*.yaml'))]),
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='Sentinel maintainers',
    maintainer_email='maintainers@sentinel-robotics.org',
    description='Sentinel detection model lifecycle: simulator datasets, YOLO training, '
                'ONNX detector, model registry.',
    license='Apache-2.0',
    extras_require={
        'test': ['pytest', 'hypothesis', 'mcap', 'mcap-ros2-support'],
        # Training only; the runtime detector needs onnxruntime (and onnx, for rectangular inputs).
        'train': ['torch', 'torchvision', 'ultralytics', 'onnxslim', 'matplotlib'],
    },
    entry_points={
        'console_scripts': [
            'sentinel-dataset = sentinel_models.cli_dataset:main',
            'sentinel-train = sentinel_models.cli_train:main',
            'sentinel-models = sentinel_models.cli_models:main',
        ],
    },
)
