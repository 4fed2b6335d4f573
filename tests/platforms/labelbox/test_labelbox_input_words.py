"""Labelbox inputs of the wrong type read as a user's words."""

from __future__ import annotations

import pytest

from airflow_remote_tasks.core.errors import InvalidInputsError

pytestmark = [pytest.mark.airflow, pytest.mark.usefixtures("airflow_db")]


def test_labelbox_rows_of_the_wrong_type_read_as_a_users_words(labelbox):
    from airflow_remote_tasks.platforms.labelbox.hook import LabelboxHook

    hook = LabelboxHook("labelbox_default")
    interface = hook.run(hook.platform.resolve_task("upsert_data_rows", "latest"))
    with pytest.raises(InvalidInputsError) as raised:
        hook.platform.prepare_inputs(interface, {"dataset_id": "ds1", "rows": 3})
    text = str(raised.value)
    assert "- inputs.rows must be a list of rows or the URI of an NDJSON file; got int" in text
    assert "Input should be" not in text and "list[" not in text
