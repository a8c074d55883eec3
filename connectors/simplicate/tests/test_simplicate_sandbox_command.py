"""`crmsync sandbox simplicate` prints the base URL to configure, API prefix included."""

from __future__ import annotations

import httpx

from crmsync.testing.sandbox_cli import printed_base_url


def test_the_printed_base_url_carries_the_api_prefix() -> None:
    with printed_base_url("simplicate") as url:
        assert url.endswith("/api/v2"), url
        # the printed URL reaches the API: without credentials its endpoints answer 401, not 404
        assert httpx.get(url + "/sales/sales").status_code == 401
