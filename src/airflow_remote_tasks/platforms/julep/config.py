"""What a Julep connection holds, and the base URLs of Julep's environments."""

from __future__ import annotations

from dataclasses import dataclass
from string import Formatter

from pydantic import SecretStr

from airflow_remote_tasks.core.errors import ConfigurationError
from airflow_remote_tasks.core.operation import path_segment
from airflow_remote_tasks.platforms.julep import PLATFORM

# The official SDK's environments; "local" agents-api serves at the root, without the gateway's /api.
ENVIRONMENTS = {
    "production": "https://api.julep.ai/api",
    "dev": "https://dev.julep.ai/api",
}
# What an execution link template may name; each value is percent-encoded as one path segment.
LINK_FIELDS = ("execution_id", "task_id")


@dataclass(frozen=True)
class JulepConfig:
    base_url: str
    api_key: SecretStr
    auth_header: str = PLATFORM.default("auth_header")
    agent_id: str = ""
    # Where an execution's link points, e.g. "https://dashboard.example.com/executions/{execution_id}";
    # empty: runs have no link (Julep's API documents no page for an execution).
    execution_link: str = ""

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def execution_url(self, execution_id: str, task_id: str = "") -> str:
        """The execution's link from ``execution_link`` (checked by :func:`check_execution_link`), or ""."""
        if not self.execution_link:
            return ""
        values = {"execution_id": execution_id, "task_id": task_id}
        return self.execution_link.format(**{k: path_segment(v) if v else "" for k, v in values.items()})

    def __repr__(self) -> str:  # never the key
        return f"JulepConfig(base_url={self.base_url!r}, agent_id={self.agent_id!r})"


def check_execution_link(template: str, conn_id: str) -> str:
    """``template`` stripped, when it is an http(s) URL naming ``{execution_id}`` and no other field than
    :data:`LINK_FIELDS`.

    :raises ConfigurationError: naming the connection and what to change.
    """
    text = template.strip()
    if not text:
        return ""
    broken = ""
    try:
        names = {name for _, name, _, _ in Formatter().parse(text) if name is not None}
    except ValueError as error:  # an unmatched brace
        names, broken = set(), str(error)
    unknown = ", ".join("{" + name + "}" for name in sorted(names - set(LINK_FIELDS)))
    checks = [
        (broken, f"it is not a template ({broken}): write a literal brace as {{{{ or }}}}"),
        (not text.startswith(("http://", "https://")), "it is not an http(s) URL"),
        (unknown, f"it names {unknown}, and only {{execution_id}} and {{task_id}} exist"),
        (
            "execution_id" not in names,
            "it does not name {execution_id}, so every run would get the same link",
        ),
    ]
    problem = next((message for failed, message in checks if failed), "")
    if problem:
        raise ConfigurationError(
            f"Julep connection {conn_id!r} has Execution link {text!r}, but {problem}. Example: "
            "https://dashboard.example.com/executions/{execution_id}"
        )
    return text
