"""The operator extra link to the run in the platform's console."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

RUN_URL_KEY = "run_url"
# Set on the operator instance that ran, once it knows its run's link (or that it has none).
KNOWN_URL_ATTRIBUTE = "_remote_run_url"


def publish_run_url(operator: Any, ti: Any, url: str) -> None:
    """Push the run's link to XCom, and remember it on the operator for :class:`RemoteRunLink`."""
    ti.xcom_push(key=RUN_URL_KEY, value=url)
    setattr(operator, KNOWN_URL_ATTRIBUTE, url)


def remember_run_url(operator: Any, url: str) -> None:
    """The run's link is in XCom already (an earlier part of this try pushed it)."""
    setattr(operator, KNOWN_URL_ATTRIBUTE, url)


class RemoteRunLink(BaseOperatorLink):
    name = "Remote run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        # Airflow asks the instance that just ran when the task ends. One that failed before it started a run
        # has no link: looking it up in XCom would only log a "not found" error beside the real one.
        known = getattr(operator, KNOWN_URL_ATTRIBUTE, None)
        if known is not None or hasattr(operator, "_hook"):
            return str(known or "")
        from airflow.sdk.execution_time.xcom import XCom

        return str(XCom.get_value(key=RUN_URL_KEY, ti_key=ti_key) or "")
