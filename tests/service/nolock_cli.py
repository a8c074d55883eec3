"""The soak test's negative control: `crmsync` (fake connector only) with the per-connection queue lock removed.

Run as a script by tests/service/test_soak.py; it shows the soak's overlap check fails without the lock.
"""

from __future__ import annotations

from crmsync.service.queue import Queue
from crmsync.testing import fake_cli


def _no_lock(self: Queue, connection: str) -> None:
    return None


if __name__ == "__main__":
    Queue.lock = _no_lock  # type: ignore[assignment,method-assign]
    fake_cli.main()
