"""The report's locale: which one (configured, or from the labels' language) and numbers formatted in it.

The HTML page formats with the browser's `Intl` in this locale; the parts rendered here use the same
separators: nl-NL writes 10.000,00 and 66,7 %, en-GB 10,000.00 and 66.7 %.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from crmsync.config import Config

# Words of the Dutch forecast vocabulary (the example config's labels and their usual variants).
_DUTCH = re.compile(
    r"\b(pijplijn|beste|kans|geval|toezegging|toegezegd|gesloten|gewonnen|verloren|niet|meegeteld|prognose|"
    r"verwacht|zeker|waarschijnlijk|mogelijk|weggelaten|afgesloten)\b",
    re.IGNORECASE,
)
DUTCH = "nl-NL"
DEFAULT = "en-GB"

# locale language → (thousands separator, decimal separator)
_SEPARATORS = {"nl": (".", ","), "de": (".", ","), "fr": ("\u202f", ",")}


def report_locale(config: Config) -> str:
    """`[report] locale`, else nl-NL when the configured labels are Dutch, else en-GB."""
    if config.report.locale:
        return config.report.locale
    dutch = sum(1 for label in config.labels.values() if _DUTCH.search(label))
    return DUTCH if dutch and dutch * 2 >= len(config.labels) else DEFAULT


def separators(locale: str) -> tuple[str, str]:
    return _SEPARATORS.get(locale.split("-")[0].lower(), (",", "."))


def number(value: Decimal, locale: str, places: int = 2) -> str:
    """`value` rounded to `places` with the locale's separators: 12345.6 → '12.345,60' in nl-NL."""
    thousands, decimal = separators(locale)
    text = f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,.{places}f}"
    return text.replace(",", "\0").replace(".", decimal).replace("\0", thousands)
