"""The operator extra link to the run in the platform's console."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink

RUN_URL_KEY = "run_url"


class RemoteRunLink(BaseOperatorLink):
    name = "Remote run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        return str(XCom.get_value(key=RUN_URL_KEY, ti_key=ti_key) or "")
