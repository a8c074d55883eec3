"""The state store: runs, deals, forecasts, the write ledger, cursors, quarantine and locks."""

from crmsync.store.ledger import LedgerRow, Marks
from crmsync.store.store import Store
from crmsync.store.vocabulary import Outcome, RunKind, RunStatus

__all__ = ["LedgerRow", "Marks", "Outcome", "RunKind", "RunStatus", "Store"]
