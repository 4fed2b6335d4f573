"""What a Labelbox connection holds, and the URLs derived from it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from pydantic import SecretStr

from airflow_remote_tasks.core.operation import path_segment
from airflow_remote_tasks.version import __version__

DEFAULT_ENDPOINT = "https://api.labelbox.com/graphql"
DEFAULT_APP_URL = "https://app.labelbox.com"


@dataclass(frozen=True)
class LabelboxConfig:
    endpoint: str
    api_key: SecretStr
    app_url: str = DEFAULT_APP_URL
    user_agent: str = f"airflow-provider-remote-tasks/{__version__}"

    def task_url(self, task_id: str) -> str:
        # GUESS: the app has no documented page per task; the organization's task list is where a person
        # looks one up.
        return f"{self.app_url.rstrip('/')}/tasks?task={quote(task_id, safe='')}"

    def project_url(self, project_id: str) -> str:
        """:raises ValueError: for an id that cannot be a path segment ("", "." or "..")."""
        return f"{self.app_url.rstrip('/')}/projects/{path_segment(project_id)}"

    def dataset_url(self, dataset_id: str) -> str:
        """The dataset's page in the app's catalog. :raises ValueError: as :meth:`project_url`."""
        return f"{self.app_url.rstrip('/')}/catalog/{path_segment(dataset_id)}"

    def __repr__(self) -> str:  # never the key
        return f"LabelboxConfig(endpoint={self.endpoint!r}, app_url={self.app_url!r})"
