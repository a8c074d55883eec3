"""The state store: runs, deals, forecasts, the write ledger, cursors, quarantine and locks."""

from crmsync.store.store import LedgerRow, Marks, Store

__all__ = ["LedgerRow", "Marks", "Store"]
