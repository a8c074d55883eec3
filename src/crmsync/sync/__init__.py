"""The sync run: phase 1 lists, maps, evaluates and plans into the ledger; phase 2 writes the pending rows."""

from crmsync.sync.engine import SyncEngine
from crmsync.sync.result import RunResult
from crmsync.sync.rollback import rollback

__all__ = ["RunResult", "SyncEngine", "rollback"]
