"""The state store: runs, deals, forecasts, the write ledger, cursors, quarantine and locks."""

from crmsync.store.store import LedgerRow, Store

__all__ = ["LedgerRow", "Store"]
