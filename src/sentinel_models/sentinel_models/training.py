"""Train a YOLO detector with ultralytics, export it to ONNX, score it, write its card, register it.

Steps of :func:`train` (each logged):

1. check the training dataset and the held-out set (errors before any CPU is spent);
2. train from a model YAML (no downloaded weights; offline: plots off, AMP off,
   no dataloader workers) with progress per epoch;
3. export the best checkpoint to ONNX with a dynamic batch and a fixed
   ``imgsz`` square input, class names and Sentinel fields in its metadata;
4. score the ONNX file through :class:`~onnx_detector.OnnxDetector` on the
   held-out set (the artifact that ships is the one measured), draw the
   confusion matrix;
5. write ``<models_dir>/<version>/`` (model, card in JSON and Markdown, the
   datasets' cards, the figure, ultralytics' per-epoch results) under a
   temporary name, then rename it: a failed run leaves no half model;
6. register the version as a candidate.

torch and ultralytics are the ``train`` extra; without them the run stops at
once with the command that installs them.

Run training in a process of its own (``sentinel-train`` is one): torch loads
triton's bundled LLVM when deterministic training is switched on, and that
crashes a process in which Mesa's llvmpipe has already rendered (the
simulator's EGL cameras); generating a dataset and training in one process
is therefore not supported.
"""

from __future__ import annotations

import os

# Under CPU contention OpenMP's default busy-waiting makes every thread spin on every
# barrier; passive waiting was 5-7x faster here with other jobs running. Must precede torch.
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

import importlib.util  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import logging  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from sentinel_models.dataset import (  # noqa: E402
    DatasetError,
    DatasetInfo,
    load_dataset,
    machine_description,
)
from sentinel_models.dataset_card import file_sha256  # noqa: E402
from sentinel_models.model_card import CARD_JSON, write_model_card  # noqa: E402
from sentinel_models.registry import (  # noqa: E402
    MODEL_FILE,
    RegistryError,
    import_dir,
    validate_version,
)

_LOG = logging.getLogger(__name__)

# The model YAML checked into this package (see its header for why it is small).
PACKAGE_MODEL_YAML = Path(__file__).resolve().parent / 'model_configs' / 'sentinel-yolov8t.yaml'
# Packages whose versions a model card records.
RECORDED_PACKAGES = ('torch', 'torchvision', 'ultralytics', 'onnx', 'onnxslim', 'onnxruntime',
                     'numpy', 'mujoco')
# Epochs at the end trained without mosaic (ultralytics' close_mosaic), at most this many,
# and at most a fifth of the run.
CLOSE_MOSAIC_EPOCHS = 10
# Dataloader processes on a GPU: mosaic augmentation of 320 px images is CPU work that
# a single process cannot do as fast as a GPU trains on it.
GPU_DATALOADER_WORKERS = 8
# Install hint when the train extra is missing.
TRAIN_EXTRA_HINT = ('run setup with the train extra: `.venv/bin/pip install -r requirements/train.txt` '
                    '(torch, torchvision, ultralytics, onnx, onnxslim)')
# The PyTorch checkpoint kept next to the ONNX file, for fine-tuning a child version.
WEIGHTS_FILE = 'weights.pt'
# ONNX opset of the export (onnxruntime 1.2x runs it; ultralytics' default may be newer).
ONNX_OPSET = 17


class TrainingDependencyError(RuntimeError):
    """torch or ultralytics is not installed."""


class TrainingError(RuntimeError):
    """Training, export or scoring failed; the message says where."""


@dataclass(frozen=True)
class TrainConfig:
    """What `sentinel-train` was asked for."""

    data: Path
    models_dir: Path
    model_yaml: str = str(PACKAGE_MODEL_YAML)
    epochs: int = 50
    imgsz: int = 320
    batch: int = 16
    seed: int = 0
    time_hours: float | None = None      # ultralytics' time budget: overrides epochs when set
    test_data: Path | None = None        # held-out set (its val split); default: data's val split
    version: str = ''
    parent_version: str = ''
    work_dir: Path | None = None
    patience: int = 100
    close_mosaic: int | None = None      # final epochs without mosaic (None: a fifth, at most 10)
    cache: bool = True                   # keep decoded images in RAM (saves a PNG decode per use)
    overrides: tuple[tuple[str, Any], ...] = ()  # further ultralytics train arguments
    resume: Path | None = None           # last.pt of an interrupted run: continue it (same args)
    device: str = 'cpu'                  # 'cpu', 'cuda', 'cuda:N' or GPU indices '0,1'
    workers: int | None = None           # dataloader processes (None: 0 on CPU, 8 on a GPU)
    db_url: str | None = None            # register here (None: do not register)
    command: str = ''

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f'epochs must be >= 1, got {self.epochs}')
        if self.imgsz < 32 or self.imgsz % 32:
            raise ValueError(f'imgsz must be a multiple of 32 (>= 32), got {self.imgsz}')
        if self.batch < 1:
            raise ValueError(f'batch must be >= 1, got {self.batch}')
        if self.time_hours is not None and self.time_hours <= 0:
            raise ValueError(f'time budget must be positive, got {self.time_hours} h')
        if self.workers is not None and self.workers < 0:
            raise ValueError(f'workers must be >= 0, got {self.workers}')
        if not re.fullmatch(r'cpu|cuda(:\d+)?|\d+(,\d+)*', self.device):
            raise ValueError(f"device must be cpu, cuda, cuda:N or GPU indices like 0,1; "
                             f"got {self.device!r}")

    @property
    def on_gpu(self) -> bool:
        return self.device != 'cpu'

    def gpu_indices(self) -> str:
        """The device in ultralytics' spelling ('cpu', or GPU indices such as '0,1')."""
        if not self.on_gpu:
            return 'cpu'
        return self.device.removeprefix('cuda:').replace('cuda', '0')

    def dataloader_workers(self) -> int:
        """On CPU the training itself needs every core; a GPU needs workers to keep it fed."""
        if self.workers is not None:
            return self.workers
        return min(GPU_DATALOADER_WORKERS, os.cpu_count() or 1) if self.on_gpu else 0


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it.

    Not imported on purpose: ultralytics patches Pillow and torch starts threads at
    import, which a caller that only checks (a test, a CLI about to fail) should not pay for.
    """
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_train_dependencies() -> dict[str, str]:
    """Versions of the training packages; TrainingDependencyError naming the missing ones."""
    missing = [module for module in ('torch', 'ultralytics', 'onnx') if not _installed(module)]
    if missing:
        raise TrainingDependencyError(f'training needs {", ".join(missing)}, which '
                                      f'{"is" if len(missing) == 1 else "are"} not installed: '
                                      f'{TRAIN_EXTRA_HINT}')
    return package_versions()


def package_versions() -> dict[str, str]:
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = 'not installed'
    return versions


def resolve_model_yaml(value: str) -> str:
    """A model YAML or checkpoint path, or a name ultralytics knows (``yolov8n.yaml``)."""
    path = Path(value)
    if path.is_file():
        return str(path)
    packaged = PACKAGE_MODEL_YAML.parent / value
    if packaged.is_file():
        return str(packaged)
    if path.suffix in ('.yaml', '.yml') and os.sep not in value:
        return value  # ultralytics' own configs (yolov8n.yaml, yolo11n.yaml, ...)
    raise FileNotFoundError(f'model YAML {value} not found')


def default_version(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime('%Y%m%d-%H%M%S')
    return f'det-{stamp}'


def _device_name(config: TrainConfig) -> str:
    """The accelerator the model was trained on, for the card."""
    if not config.on_gpu:
        return 'cpu'
    import torch

    return torch.cuda.get_device_name(int(config.gpu_indices().split(',')[0]))


class _EpochLog:
    """ultralytics callbacks: one log line per epoch with losses, metrics and time left."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.start = time.monotonic()
        self.first_epoch: int | None = None

    def on_fit_epoch_end(self, trainer: Any) -> None:
        done = trainer.epoch + 1
        if done > trainer.epochs:
            return  # ultralytics' final validation of the best checkpoint, not an epoch
        if self.first_epoch is None:  # a resumed run starts past epoch 0
            self.first_epoch = trainer.epoch
        elapsed = time.monotonic() - self.start
        left = elapsed / (done - self.first_epoch) * (trainer.epochs - done)
        items = trainer.label_loss_items(trainer.tloss, prefix='train') if trainer.tloss is not None \
            else {}
        losses = ' '.join(f'{name.split("/")[-1]} {float(value):.3f}' for name, value in items.items())
        metrics = trainer.metrics or {}
        self.report(f'epoch {done}/{trainer.epochs}: {losses}; val mAP50 '
                    f'{metrics.get("metrics/mAP50(B)", 0.0):.3f} mAP50-95 '
                    f'{metrics.get("metrics/mAP50-95(B)", 0.0):.3f}; elapsed {elapsed / 60:.1f} min, '
                    f'about {left / 60:.1f} min left')


def export_onnx(weights: Path, imgsz: int, names: tuple[str, ...], version: str, out: Path) -> None:
    """ONNX export of a checkpoint: dynamic batch, ``imgsz`` square input, Sentinel metadata."""
    import onnx
    from ultralytics import YOLO

    exported = YOLO(str(weights)).export(format='onnx', imgsz=imgsz, dynamic=True, simplify=True,
                                         opset=ONNX_OPSET, device='cpu')
    model = onnx.load(str(exported))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[0].dim_param = 'batch'
    dims[2].dim_value = imgsz   # the registry records one input size; pin it in the file too
    dims[3].dim_value = imgsz
    out_dims = model.graph.output[0].type.tensor_type.shape.dim
    out_dims[0].dim_param = 'batch'
    out_dims[1].dim_value = 4 + len(names)
    out_dims[2].dim_value = sum((imgsz // s) ** 2 for s in (8, 16, 32))
    extra = {'sentinel_version': version, 'sentinel_class_names': json.dumps(list(names)),
             'sentinel_input_size': str(imgsz)}
    for key, value in extra.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def _copy_card(info: DatasetInfo, target: Path) -> None:
    if info.card is not None:
        target.write_text(json.dumps(info.card, indent=2, sort_keys=True) + '\n', encoding='utf-8')


def train(config: TrainConfig, report: Callable[[str], None] = _LOG.info) -> dict[str, Any]:
    """Run every step of the module docstring; returns the model card."""
    versions = check_train_dependencies()
    os.environ.setdefault('YOLO_OFFLINE', '1')  # never reach for the network (weights, fonts, hub)
    version = validate_version(config.version or default_version())
    final_dir = config.models_dir / version
    if final_dir.exists():
        raise TrainingError(f'{final_dir} exists: choose another --version')
    try:
        model_yaml = resolve_model_yaml(config.model_yaml)
        train_info = load_dataset(config.data)
        heldout_info = load_dataset(config.test_data, splits=('val',)) if config.test_data \
            else train_info
    except (DatasetError, FileNotFoundError) as error:
        raise TrainingError(str(error)) from None
    if heldout_info.names != train_info.names:
        raise TrainingError(f'held-out classes {list(heldout_info.names)} differ from the '
                            f'training classes {list(train_info.names)}')
    names = train_info.names
    work = (config.work_dir or Path('build') / 'sentinel-train') / version
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('YOLO_CONFIG_DIR', str(work / 'ultralytics'))  # settings file stays here
    report(f'training {version}: {model_yaml}, {len(train_info.images["train"])} train / '
           f'{len(train_info.images["val"])} val images, held-out '
           f'{len(heldout_info.images["val"])} images, {config.epochs} epochs'
           f'{f" or {config.time_hours} h" if config.time_hours else ""} at {config.imgsz} px')

    from ultralytics import YOLO

    started = time.monotonic()
    model = YOLO(str(config.resume) if config.resume else model_yaml)
    epoch_log = _EpochLog(report)
    model.add_callback('on_fit_epoch_end', epoch_log.on_fit_epoch_end)
    hyper = dict(data=str(train_info.data_yaml), epochs=config.epochs, imgsz=config.imgsz,
                 batch=config.batch, workers=config.dataloader_workers(),
                 amp=config.on_gpu, plots=False, device=config.gpu_indices(),
                 project=str(work.resolve()), name='run', exist_ok=True, seed=config.seed,
                 deterministic=True, verbose=False, patience=config.patience,
                 close_mosaic=config.close_mosaic if config.close_mosaic is not None
                 else min(CLOSE_MOSAIC_EPOCHS, max(1, config.epochs // 5)),
                 cache='ram' if config.cache else False, val=True)
    if config.time_hours:
        hyper['time'] = config.time_hours
    for key, value in config.overrides:
        if key in ('data', 'project', 'name', 'device'):
            raise TrainingError(f'--set {key}=... is chosen by sentinel-train itself')
        hyper[key] = value
    if config.resume:
        # ultralytics restores every argument from the checkpoint; only a few may change.
        if not config.resume.is_file():
            raise TrainingError(f'{config.resume}: no checkpoint to resume')
        hyper = {'resume': True, 'data': hyper['data'], 'cache': hyper['cache'],
                 'workers': hyper['workers'], 'device': hyper['device']}
        report(f'resuming {config.resume}')
    try:
        model.train(**hyper)
    except (RuntimeError, FileNotFoundError, ValueError, SyntaxError) as error:
        # SyntaxError: ultralytics' answer to an unknown argument (a mistyped --set KEY).
        raise TrainingError(f'ultralytics training failed: {error}') from error
    trainer = model.trainer
    train_seconds = time.monotonic() - started
    best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
    run_dir = Path(trainer.save_dir)
    epochs_done = int(trainer.epoch) + 1
    ultralytics_val = {k: round(float(v), 4) for k, v in (trainer.metrics or {}).items()}
    report(f'trained {epochs_done} epochs in {train_seconds / 60:.1f} min; exporting {best.name}')

    staging = config.models_dir / f'.{version}.partial'
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        onnx_path = staging / MODEL_FILE
        export_onnx(best, config.imgsz, names, version, onnx_path)
        from sentinel_models.model_eval import evaluate_model, prediction_preview
        from sentinel_models.plots import draw_confusion_matrix
        from sentinel_models.progress import Progress

        split = 'val'
        progress = Progress('held-out', len(heldout_info.images[split]), 'images')
        metrics = evaluate_model(onnx_path, names, config.imgsz, heldout_info, split, progress.update)
        progress.close()
        draw_confusion_matrix(metrics.confusion, names, staging / 'confusion_matrix.png')
        prediction_preview(onnx_path, names, config.imgsz, heldout_info, split,
                           staging / 'heldout_predictions.png')
        _copy_card(train_info, staging / 'dataset_card.json')
        if config.test_data:
            _copy_card(heldout_info, staging / 'heldout_dataset_card.json')
        if (run_dir / 'results.csv').is_file():
            shutil.copy(run_dir / 'results.csv', staging / 'training_results.csv')
        # The PyTorch checkpoint (a few MB for the small model): a child version can be
        # fine-tuned from it (--model-yaml models/<version>/weights.pt --parent <version>).
        shutil.copy(best, staging / WEIGHTS_FILE)
        effective = {k: v for k, v in vars(trainer.args).items()
                     if isinstance(v, (int, float, str, bool)) or v is None}
        card = {
            'format': 'sentinel-model-card/1',
            'version': version,
            'parent_version': config.parent_version,
            'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
            'file': MODEL_FILE,
            'weights': WEIGHTS_FILE,
            'sha256': file_sha256(onnx_path),
            'size_bytes': onnx_path.stat().st_size,
            'classes': list(names),
            'input_size': config.imgsz,
            'architecture': {'model_yaml': Path(model_yaml).name,
                             'parameters': int(sum(p.numel() for p in trainer.model.parameters()))},
            'dataset': {'path': str(train_info.root), 'content_hash': train_info.content_hash,
                        'images': {s: len(v) for s, v in train_info.images.items()},
                        'card': 'dataset_card.json'},
            'heldout': {'path': str(heldout_info.root), 'content_hash': heldout_info.content_hash,
                        'images': len(heldout_info.images[split]), 'split': split,
                        'card': ('heldout_dataset_card.json' if config.test_data
                                 else 'dataset_card.json'),
                        'seed': (heldout_info.card or {}).get('seed')},
            # A resumed run keeps the interrupted run's arguments (ultralytics_args), not these.
            'hyperparameters': {'epochs_requested': None if config.resume else config.epochs,
                                'epochs_completed': epochs_done,
                                'time_budget_hours': getattr(trainer.args, 'time', None)
                                if config.resume else config.time_hours,
                                'imgsz': config.imgsz,
                                'batch': config.batch, 'seed': config.seed,
                                'overrides': None if config.resume else dict(config.overrides),
                                'ultralytics_args': effective},
            'metrics': metrics.as_dict(),
            'ultralytics_val_metrics': ultralytics_val,
            'training': {'seconds': round(train_seconds, 1), 'command': config.command,
                         'resumed_from': str(config.resume) if config.resume else None,
                         'machine': {**machine_description(), 'device': _device_name(config)},
                         'packages': versions},
            'figures': {'confusion_matrix': 'confusion_matrix.png',
                        'heldout_predictions': 'heldout_predictions.png'},
        }
        write_model_card(staging, card)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.rename(final_dir)
    report(f'{version}: held-out mAP50 {metrics.map50:.3f}, mAP50-95 {metrics.map50_95:.3f}; '
           f'written to {final_dir}')
    if config.db_url:
        from sentinel_models.registry_db import RegistryDatabase

        try:
            with RegistryDatabase(config.db_url) as db, db.transaction() as session:
                import_dir(session, final_dir)
        except RegistryError as error:
            raise TrainingError(f'trained and written to {final_dir}, but not registered: {error}') \
                from None
        report(f'registered {version} as a candidate')
    card_path = final_dir / CARD_JSON
    return json.loads(card_path.read_text(encoding='utf-8'))
