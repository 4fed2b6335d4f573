"""A run reference's scope holds JSON values, and still reads the strings an earlier release wrote."""

from __future__ import annotations

import json

from airflow_remote_tasks.core.models import RunRef


def test_a_scope_keeps_json_values_through_a_trigger_row() -> None:
    ref = RunRef(platform="p", run_id="r", scope={"kind": "import", "fail_on_row_errors": False, "rows": 3})
    again = RunRef.model_validate(json.loads(json.dumps(ref.to_json())))
    assert again.scope == {"kind": "import", "fail_on_row_errors": False, "rows": 3}
    assert again.flag("fail_on_row_errors", True) is False


def test_a_flag_written_as_a_string_by_an_earlier_release_reads_as_a_boolean() -> None:
    assert RunRef(platform="p", run_id="r", scope={"f": "false"}).flag("f", True) is False
    assert RunRef(platform="p", run_id="r", scope={"f": "true"}).flag("f", False) is True
    assert RunRef(platform="p", run_id="r", scope={"f": True}).flag("f", False) is True
    assert RunRef(platform="p", run_id="r").flag("f", True) is True
