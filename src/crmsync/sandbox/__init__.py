"""Local emulators of the CRMs' APIs, for tests, the demo and `crmsync sandbox`."""

from crmsync.sandbox.base import Faults, Sandbox
from crmsync.sandbox.server import RunningServer, serve

__all__ = ["Faults", "RunningServer", "Sandbox", "serve"]
