"""What an Avala connection holds."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import SecretStr

from airflow_remote_tasks.core.phases import Phase

DEFAULT_BASE_URL = "https://api.avala.ai/api/v1"
DEFAULT_APP_URL = "https://avala.ai"  # the web app host of Avala's own CLI (``avala view``)

# Avala's status words by kind of object, and what they mean here. Only some are documented (the SDK's
# terminal set for exports; fixtures and CLI help for the rest): each table is a best guess the connection's
# "Status words" extend or override, and a word in none of them counts as not finished.
STATUS_WORDS: dict[str, dict[str, Phase]] = {
    "task": {
        "pending": Phase.QUEUED,
        "active": Phase.RUNNING,
        "in_progress": Phase.RUNNING,
        "completed": Phase.SUCCEEDED,  # GUESS: the README's example filters on it as "done"
    },
    "export": {
        "pending": Phase.QUEUED,
        "processing": Phase.RUNNING,
        "exported": Phase.SUCCEEDED,  # the SDK's terminal set
        "failed": Phase.FAILED,
        "completed": Phase.SUCCEEDED,  # GUESS: seen in fixtures only
    },
    "auto_label": {
        "pending": Phase.QUEUED,
        "running": Phase.RUNNING,
        "completed": Phase.SUCCEEDED,  # GUESS: terminal set not documented
        "failed": Phase.FAILED,
        "cancelled": Phase.ABORTED,
    },
}


# Where a run's link opens in the app, by kind (GUESS: the app's paths are not documented; the App URL field
# says so). Filled with percent-encoded segments.
LINK_PATHS = {
    "task": "projects/{project}/tasks/{uid}",
    "export": "projects/{project}/exports/{uid}",
    "dataset_export": "datasets/{dataset}/exports/{uid}",
    "auto_label": "projects/{project}/auto-label-jobs/{uid}",
}


@dataclass(frozen=True)
class AvalaConfig:
    base_url: str
    api_key: SecretStr
    app_url: str = DEFAULT_APP_URL
    # word -> phase name, from the connection: applied over every kind's table
    status_overrides: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.strip('/')}/"

    def __repr__(self) -> str:  # never the key
        return f"AvalaConfig(base_url={self.base_url!r}, app_url={self.app_url!r})"

    def __hash__(self) -> int:
        overrides = tuple(sorted(self.status_overrides.items()))
        return hash((self.base_url, self.api_key.get_secret_value(), self.app_url, overrides))
