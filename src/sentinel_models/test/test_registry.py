"""Model registry: promote, rollback, retire, hash checks, imports, migrations beside other apps."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from sentinel_models import registry
from sentinel_models.registry import NewModel, RegistryError
from sentinel_models.registry_db import RegistryDatabase
from sentinel_models.registry_schema import VERSION_TABLE, ModelVersion

NAMES = ('person', 'vehicle', 'drone')


def new_model(tmp: Path, version: str, content: bytes | None = None, minutes: int = 0) -> NewModel:
    path = tmp / f'{version}.onnx'
    path.write_bytes(content if content is not None else version.encode() * 10)
    return NewModel(version, path, NAMES, 320, dataset_hash='sha256:abc', map50=0.5,
                    map50_95=0.3, created_at=datetime(2026, 1, 1, tzinfo=timezone.utc) +
                    timedelta(minutes=minutes))


def test_promote_retires_the_previous_and_rollback_restores_it(tmp_path: Path, db_url: str) -> None:
    with RegistryDatabase(db_url) as db:
        with db.transaction() as s:
            for i, v in enumerate(('a', 'b', 'c')):
                registry.register(s, new_model(tmp_path, v, minutes=i))
            registry.promote(s, 'a')
            registry.promote(s, 'b')
            new, previous = registry.promote(s, 'c')
            assert (new.version, previous and previous.version) == ('c', 'b')
        with db.transaction() as s:
            assert registry.rollback(s)[0].version == 'b'
            assert registry.rollback(s)[0].version == 'a'
            with pytest.raises(RegistryError, match='no previous active version'):
                registry.rollback(s)
            statuses = {r.version: r.status for r in registry.list_versions(s)}
            assert statuses == {'a': 'active', 'b': 'retired', 'c': 'retired'}


def test_a_model_whose_file_changed_is_never_activated(tmp_path: Path, db_url: str) -> None:
    with RegistryDatabase(db_url) as db, db.transaction() as s:
        registry.register(s, new_model(tmp_path, 'a'))
        registry.register(s, new_model(tmp_path, 'b'))
        registry.promote(s, 'a')
        (tmp_path / 'b.onnx').write_bytes(b'tampered')
        with pytest.raises(RegistryError, match='does not match the registry'):
            registry.promote(s, 'b')
        assert registry.current_active(s).version == 'a'  # type: ignore[union-attr]
        (tmp_path / 'a.onnx').unlink()
        with pytest.raises(RegistryError, match='missing'):
            registry.active_model(s)
        assert registry.active_model(s, verify=False) is not None


def test_active_model_gives_what_perception_needs(tmp_path: Path, db_url: str) -> None:
    with RegistryDatabase(db_url) as db, db.transaction() as s:
        assert registry.active_model(s) is None
        registry.register(s, new_model(tmp_path, 'a'))
        registry.promote(s, 'a')
        active = registry.active_model(s)
        assert active is not None
        assert (active.version, active.class_names, active.input_size_px) == ('a', NAMES, 320)
        assert active.file_path == (tmp_path / 'a.onnx').resolve()
        fields = registry.to_model_info_fields(active)
        assert fields['status'] == 1 and fields['file_uri'].startswith('file://')


def test_the_active_version_cannot_be_retired(tmp_path: Path, db_url: str) -> None:
    with RegistryDatabase(db_url) as db, db.transaction() as s:
        registry.register(s, new_model(tmp_path, 'a'))
        registry.promote(s, 'a')
        with pytest.raises(RegistryError, match='is active'):
            registry.retire(s, 'a')


def test_registering_a_version_twice_with_another_file_is_refused(tmp_path: Path, db_url: str) -> None:
    with RegistryDatabase(db_url) as db, db.transaction() as s:
        registry.register(s, new_model(tmp_path, 'a', b'one'))
        registry.register(s, new_model(tmp_path, 'a', b'one'))  # same file: a no-op
        with pytest.raises(RegistryError, match='already registered with another file'):
            registry.register(s, new_model(tmp_path, 'a', b'two'))


@pytest.mark.parametrize('version', ['', '../x', 'a b', '-x', 'x' * 200])
def test_bad_version_strings_are_refused(tmp_path: Path, db_url: str, version: str) -> None:
    with RegistryDatabase(db_url) as db, db.transaction() as s:
        with pytest.raises(RegistryError, match='version'):
            registry.register(s, NewModel(version, tmp_path / 'f', NAMES, 320))


def test_the_database_itself_refuses_two_active_versions(tmp_path: Path, db_url: str) -> None:
    with RegistryDatabase(db_url) as db:
        with db.transaction() as s:
            registry.register(s, new_model(tmp_path, 'a'))
            registry.register(s, new_model(tmp_path, 'b'))
            registry.promote(s, 'a')
        with pytest.raises(IntegrityError), db.transaction() as s:
            s.get(ModelVersion, 'b').status = 'active'  # type: ignore[union-attr]
            s.flush()


def test_migrations_coexist_with_another_alembic_history(tmp_path: Path) -> None:
    url = f'sqlite:///{tmp_path}/shared.db'
    engine = create_engine(url)
    with engine.begin() as connection:  # what the operator API's migrations leave behind
        connection.execute(text('CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)'))
        connection.execute(text("INSERT INTO alembic_version VALUES ('0001_initial')"))
        connection.execute(text('CREATE TABLE alerts (alert_id TEXT PRIMARY KEY)'))
    RegistryDatabase(url).close()
    RegistryDatabase(url).close()  # idempotent
    tables = set(inspect(engine).get_table_names())
    assert {'alembic_version', 'alerts', 'model_versions', VERSION_TABLE} <= tables
    with engine.connect() as connection:
        assert connection.execute(text('SELECT version_num FROM alembic_version')).scalar() == '0001_initial'
        assert connection.execute(text(f'SELECT version_num FROM {VERSION_TABLE}')).scalar() == 'models_0001'


def _model_dir(root: Path, fakes: ModuleType, version: str, created: str, nc: int = 3) -> Path:
    directory = root / version
    directory.mkdir(parents=True)
    fakes.write_fake_model(directory / 'model.onnx', fakes.anchor_table([], nc))
    card = {'version': version, 'classes': list(NAMES), 'input_size': 320, 'created': created,
            'file': 'model.onnx', 'metrics': {'map50': 0.9, 'map50_95': 0.6},
            'dataset': {'content_hash': 'sha256:feed'}}
    (directory / 'model_card.json').write_text(json.dumps(card))
    return directory


def test_import_and_ensure_default(tmp_path: Path, db_url: str, fakes: ModuleType) -> None:
    models = tmp_path / 'models'
    _model_dir(models, fakes, 'det-old', '2026-01-01T00:00:00+00:00')
    _model_dir(models, fakes, 'det-new', '2026-02-01T00:00:00+00:00')
    with RegistryDatabase(db_url) as db:
        with db.transaction() as s:
            assert registry.ensure_default(s, models).version == 'det-new'  # type: ignore[union-attr]
        with db.transaction() as s:
            registry.promote(s, 'det-old')
            assert registry.ensure_default(s, models).version == 'det-old'  # type: ignore[union-attr]
            row = registry.get(s, 'det-new')
            assert row.dataset_hash == 'sha256:feed' and row.map50 == pytest.approx(0.9)


def test_import_refuses_a_model_that_does_not_fit_its_card(tmp_path: Path, db_url: str,
                                                           fakes: ModuleType) -> None:
    directory = _model_dir(tmp_path, fakes, 'det-bad', '2026-01-01T00:00:00+00:00', nc=2)
    with RegistryDatabase(db_url) as db, db.transaction() as s:
        with pytest.raises(RegistryError, match='predicts 2 classes'):
            registry.import_dir(s, directory)
        (directory / 'model_card.json').write_text('{"version": "det-bad"}')
        with pytest.raises(RegistryError, match='missing or invalid field'):
            registry.import_dir(s, directory)
        (directory / 'model_card.json').unlink()
        with pytest.raises(RegistryError, match='not a model directory'):
            registry.import_dir(s, directory)


class RegistryMachine(RuleBasedStateMachine):
    """Random sequences of registry operations against a reference model of the lifecycle."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix='registry-'))
        self.db = RegistryDatabase(f'sqlite:///{self.tmp}/r.db')
        self.status: dict[str, str] = {}
        self.previous: dict[str, str] = {}
        self.corrupt: set[str] = set()
        self.active: str | None = None
        self.count = 0

    def teardown(self) -> None:
        self.db.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _try(self, operation, expect_ok: bool) -> None:  # type: ignore[no-untyped-def]
        try:
            with self.db.transaction() as s:
                operation(s)
        except RegistryError:
            assert not expect_ok, 'the registry refused an allowed operation'
            return
        assert expect_ok, 'the registry allowed a forbidden operation'

    @rule()
    def register(self) -> None:
        version = f'v{self.count}'
        self.count += 1
        self._try(lambda s: registry.register(s, new_model(self.tmp, version, minutes=self.count)), True)
        self.status[version] = 'candidate'

    @precondition(lambda self: self.status)
    @rule(data=st.data())
    def promote(self, data: st.DataObject) -> None:
        version = data.draw(st.sampled_from(sorted(self.status)))
        ok = self.status[version] != 'active' and version not in self.corrupt
        self._try(lambda s: registry.promote(s, version), ok)
        if ok:
            if self.active:
                self.status[self.active] = 'retired'
            self.previous[version] = self.active or ''
            self.status[version] = 'active'
            self.active = version

    @rule()
    def rollback(self) -> None:
        target = self.previous.get(self.active, '') if self.active else ''
        ok = bool(target) and target not in self.corrupt
        self._try(registry.rollback, ok)
        if ok:
            assert self.active is not None
            self.status[self.active] = 'retired'
            self.status[target] = 'active'
            self.active = target

    @precondition(lambda self: self.status)
    @rule(data=st.data())
    def retire(self, data: st.DataObject) -> None:
        version = data.draw(st.sampled_from(sorted(self.status)))
        ok = version != self.active
        self._try(lambda s: registry.retire(s, version), ok)
        if ok:
            self.status[version] = 'retired'

    @precondition(lambda self: self.status)
    @rule(data=st.data())
    def tamper_or_repair(self, data: st.DataObject) -> None:
        version = data.draw(st.sampled_from(sorted(self.status)))
        path = self.tmp / f'{version}.onnx'
        if version in self.corrupt:
            path.write_bytes(version.encode() * 10)
            self.corrupt.discard(version)
        else:
            path.write_bytes(b'tampered')
            self.corrupt.add(version)

    @invariant()
    def at_most_one_active_and_statuses_agree(self) -> None:
        with self.db.transaction() as s:
            actives = s.scalar(select(func.count()).select_from(ModelVersion)
                               .where(ModelVersion.status == 'active'))
            assert actives <= 1
            assert {r.version: r.status for r in registry.list_versions(s)} == self.status


RegistryMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
TestRegistryLifecycle = RegistryMachine.TestCase


def test_the_migration_creates_exactly_the_schema(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from sentinel_models.registry_schema import Base

    with RegistryDatabase(f'sqlite:///{tmp_path}/m.db') as db, db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            'compare_type': True,
            'include_name': lambda name, kind, _parent: kind != 'table' or name != VERSION_TABLE})
        assert compare_metadata(context, Base.metadata) == []


def test_bootstrap_activates_the_shipped_model_once(tmp_path: Path, db_url: str,
                                                    fakes: ModuleType) -> None:
    models = tmp_path / 'models'
    _model_dir(models, fakes, 'det-v1', '2026-01-01T00:00:00+00:00')
    broken = models / 'det-broken'
    broken.mkdir()
    (broken / 'model_card.json').write_text('{not json')
    with RegistryDatabase(db_url) as db:
        with db.transaction() as s:
            first = registry.bootstrap_active(s, models)
        with db.transaction() as s:
            again = registry.bootstrap_active(s, models)
            rows = registry.list_versions(s)
    assert first is not None and again is not None
    assert first.version == again.version == 'det-v1'
    assert [r.version for r in rows] == ['det-v1']  # the broken directory was skipped
