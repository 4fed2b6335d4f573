"""What a Julep connection holds, and the base URLs of Julep's environments."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import SecretStr

# The official SDK's environments; "local" agents-api serves at the root, without the gateway's /api.
ENVIRONMENTS = {
    "production": "https://api.julep.ai/api",
    "dev": "https://dev.julep.ai/api",
}


@dataclass(frozen=True)
class JulepConfig:
    base_url: str
    api_key: SecretStr
    auth_header: str = "Authorization"
    agent_id: str = ""

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def __repr__(self) -> str:  # never the key
        return f"JulepConfig(base_url={self.base_url!r}, agent_id={self.agent_id!r})"
