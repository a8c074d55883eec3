"""Connection settings for AFAS Profit: environment and host kind (or an explicit base URL), and the token."""

from __future__ import annotations

import base64
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from crmsync.connector import ConnectorSettings
from crmsync.redact import register

HOSTS = {"production": "rest", "test": "resttest", "accept": "restaccept"}


class AfasSettings(ConnectorSettings):
    """Settings of one AFAS Profit connection.

    Either `environment` (the five-digit environment number) with `host`, or `base_url` (the sandbox, a proxy).
    `token` is the token XML `<token><version>1</version><data>…</data></token>` or only its data part; put it in
    an environment variable and refer to it as `${AFAS_TOKEN}` in the config file.
    """

    base_url: str = Field(default="", description="overrides environment/host, e.g. a sandbox URL")
    environment: str | None = Field(default=None, pattern=r"^\d{5}$", description="environment number, 5 digits")
    host: Literal["production", "test", "accept"] = "production"
    token: SecretStr = Field(description="app connector user token: the XML or its data part")
    language: str = Field(default="nl-nl", description="Accept-Language: the language of Profit's messages")
    page_size: int = Field(default=1000, ge=1, le=10_000, description="rows per GetConnector page (take)")
    key_page_size: int = Field(default=5000, ge=1, le=50_000, description="rows per page of the key scan")
    max_wait_seconds: float = Field(default=120.0, gt=0, description="longest retry_after accepted from a 503")

    @model_validator(mode="after")
    def _base_url(self) -> AfasSettings:
        if not self.base_url:
            if self.environment is None:
                raise ValueError("give either 'environment' (five digits, with 'host') or 'base_url'")
            self.base_url = f"https://{self.environment}.{HOSTS[self.host]}.afas.online/ProfitRestServices"
        return self

    def authorization(self) -> str:
        """The Authorization header value: `AfasToken <base64 of the token XML>`. Never log it.

        The base64 form is a secret of its own (the redactor knows only the token as configured), so it is
        registered for masking too.
        """
        token = self.token.get_secret_value().strip()
        if not token.startswith("<token>"):
            token = f"<token><version>1</version><data>{token}</data></token>"
        encoded = base64.b64encode(token.encode("utf-8")).decode("ascii")
        register(encoded)
        return f"AfasToken {encoded}"
