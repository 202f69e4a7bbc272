"""`checkpoint backup` and `restore` on real database files."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gateway.cli.main import app
from gateway.storage.store import EntryStore
from tests.storage.test_store import new_entry


def config_for(tmp_path: Path) -> Path:
    path = tmp_path / "g.toml"
    path.write_text(f'[storage]\npath = "{tmp_path / "g.db"}"\n')
    return path


def test_backup_then_restore_brings_back_the_entries(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    store = EntryStore.open(tmp_path / "g.db")
    kept = [store.record(new_entry()).id for _ in range(3)]
    result = CliRunner().invoke(
        app, ["backup", "--config", str(config), "-o", str(tmp_path / "b.db")]
    )
    assert result.exit_code == 0, result.output
    store.record(new_entry())
    store.close()
    result = CliRunner().invoke(app, ["restore", str(tmp_path / "b.db"), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "kept as" in result.output
    restored = EntryStore.open(tmp_path / "g.db")
    assert sorted(e.id for e in restored.recent(limit=10)) == sorted(kept)


def test_restore_refuses_garbage_and_keeps_the_database(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    store = EntryStore.open(tmp_path / "g.db")
    store.record(new_entry())
    store.close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database at all" * 50)
    result = CliRunner().invoke(app, ["restore", str(garbage), "--config", str(config)])
    assert result.exit_code == 1
    assert "restore refused" in result.output
    assert len(EntryStore.open(tmp_path / "g.db").recent(limit=5)) == 1
