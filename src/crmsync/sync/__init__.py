"""The sync run: fetch, map, store, evaluate, plan and write back, with the invariants of design.md."""

from crmsync.sync.engine import RunResult, SyncEngine
from crmsync.sync.rollback import rollback

__all__ = ["RunResult", "SyncEngine", "rollback"]
