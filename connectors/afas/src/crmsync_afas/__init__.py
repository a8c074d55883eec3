"""crmsync connector for AFAS Profit forecasts ("verkoopkansen"), with a local sandbox of its REST API."""

from __future__ import annotations

__version__ = "0.1.0"
