"""The platforms' asset URIs: the forms each takes and their one spelling, the forms refused with a message that
names the fix, their registration in provider info, found by Airflow's own lookup so that a user's
``Asset("flyte://...")`` is normalised (or refused) when the DAG is parsed; their OpenLineage datasets; and a
file's URI as an asset."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from airflow_remote_tasks.core.assets import AssetShape, file_asset_uri
from airflow_remote_tasks.provider_info import asset_shapes, normalise_asset_uri, provider_info
from airflow_remote_tasks.registry import DECLARATIONS

TASK_UUID = "068306ff-e0f3-7fe9-8000-0013626a759a"


# Written by a user -> the one spelling Airflow keeps.
ACCEPTED = [
    ("flyte://acme.hosted.unionai.cloud/ml/production/my_env.train", None),
    (
        "flyte://ACME.Hosted.UnionAI.cloud/ml/production/my_env.train/",
        "flyte://acme.hosted.unionai.cloud/ml/production/my_env.train",
    ),
    (
        "FLYTE://localhost:30080/flytesnacks/development/demo.say_hello",
        "flyte://localhost:30080/flytesnacks/development/demo.say_hello",
    ),
    (f"julep://api.julep.ai/tasks/{TASK_UUID.upper()}", f"julep://api.julep.ai/tasks/{TASK_UUID}"),
    (f"julep://API.julep.ai/Tasks/{TASK_UUID}#frag", f"julep://api.julep.ai/tasks/{TASK_UUID}"),
    ("labelbox://projects/ckproj0000000000000000001", None),
    ("labelbox://Datasets/ckds000000000000000000001", "labelbox://datasets/ckds000000000000000000001"),
    ("avala://projects/3f1c9a52-6a1e-4b7a-9d0e-2c8f5b7e4a10", None),
    ("avala://datasets/ds_0001", None),
]


@pytest.mark.parametrize(("written", "normalised"), ACCEPTED)
def test_a_users_asset_is_normalised_by_the_providers_handler(written, normalised):
    from airflow.sdk import Asset

    assert Asset(written).uri == (normalised or written)


# Written by a user -> what the refusal says (the problem, then the forms that work).
REFUSED = [
    (
        "flyte://acme.example.com/ml/production",
        "it has 3 parts after flyte://, and <host>/<project>/<domain>/<task> has 4",
    ),
    (
        "flyte://acme.example.com/ML/production/train",
        "'ML' is not a valid <project> (lower-case letters, digits and '-')",
    ),
    ("flyte://acme.example.com/ml/production/my env", "'my env' is not a valid <task>"),
    (
        "flyte://apikey@acme.example.com/ml/production/train",
        "holds user info before '@': an asset URI names what it stands for, never credentials",
    ),
    (
        "flyte://acme.example.com/ml/production/train?version=v2",
        "has a query ('?version=v2'), which Flyte asset URIs do not take",
    ),
    ("julep://api.julep.ai/tasks/42", "'42' is not a valid <task_id> (a UUID)"),
    (
        f"julep://api.julep.ai/agents/{TASK_UUID}",
        "'agents' stands where <host>/tasks/<task_id> has the word 'tasks'",
    ),
    ("labelbox://ckproj0000000000000000001", "it has 1 parts after labelbox://"),
    (
        "labelbox://models/ckproj0000000000000000001",
        "'models' stands where projects/<project_id> has the word 'projects'",
    ),
    ("labelbox://projects/abc", "'abc' is not a valid <project_id> (a Labelbox id"),
    ("avala://projects/-x", "'-x' is not a valid <project_uid>"),
]


@pytest.mark.parametrize(("written", "problem"), REFUSED)
def test_a_malformed_asset_fails_the_dag_with_the_problem_and_the_forms_that_work(written, problem):
    from airflow.sdk import Asset

    shape = asset_shapes()[written.partition(":")[0]]
    with pytest.raises(ValueError) as raised:
        Asset(written)
    message = str(raised.value)
    assert problem in message
    assert message.endswith(f"Write it as {shape.written}, such as {shape.example}.")
    assert "apikey" not in message  # user info is never repeated back


def test_each_example_is_accepted_as_written():
    for shape in asset_shapes().values():
        parts = urlsplit(shape.example)
        assert shape.normalise(parts) == parts, shape.scheme


def test_a_uri_is_built_from_its_parts_and_checked():
    flyte = asset_shapes()["flyte"]
    built = flyte.uri(host="Acme.Example.com", project="ml", domain="production", task="my_env.train")
    assert built == "flyte://acme.example.com/ml/production/my_env.train"
    assert asset_shapes()["labelbox"].uri(1, dataset_id="ckds000000000000000000001") == (
        "labelbox://datasets/ckds000000000000000000001"
    )
    with pytest.raises(ValueError, match=r"needs <domain>"):
        flyte.uri(host="acme.example.com", project="ml", task="t")
    with pytest.raises(ValueError, match=r"'a/b' is not a valid <project>|it has 5 parts"):
        flyte.uri(host="acme.example.com", project="a/b", domain="d", task="t")


def test_a_form_naming_a_placeholder_without_a_pattern_is_refused_when_declared():
    with pytest.raises(LookupError, match=r"names <id>, which has no pattern"):
        AssetShape(scheme="x", label="X", forms=("things/<id>",), parts={}, example="x://things/1")


def test_every_declared_scheme_is_registered_in_provider_info_and_found_by_airflow():
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    schemes = {d.assets.scheme for d in DECLARATIONS if d.assets}
    assert schemes == {"flyte", "julep", "labelbox", "avala"}
    registered = {s for entry in provider_info()["asset-uris"] for s in entry["schemes"]}
    assert registered == schemes
    from airflow.providers_manager import ProvidersManager

    for manager in (
        ProvidersManagerTaskRuntime(),
        ProvidersManager(),
    ):  # the task SDK's, and the server side's
        handlers = manager.asset_uri_handlers
        assert all(handlers[s] is normalise_asset_uri for s in schemes), type(manager).__name__
    converters = ProvidersManagerTaskRuntime().asset_to_openlineage_converters
    assert {s for s in schemes if s in converters} == schemes


def test_provider_info_matches_airflows_schema():
    import jsonschema

    from airflow import providers_manager

    schema_path = providers_manager.__file__.replace("providers_manager.py", "provider_info.schema.json")
    with open(schema_path) as file:
        jsonschema.validate(provider_info(), json.load(file))


def test_an_asset_is_an_openlineage_dataset_named_in_its_system():
    from airflow.providers.openlineage.utils.utils import translate_airflow_asset
    from airflow.sdk import Asset

    flyte = translate_airflow_asset(Asset("flyte://Acme.example.com/ml/production/my_env.train"), None)
    assert (flyte.namespace, flyte.name) == ("flyte://acme.example.com", "ml/production/my_env.train")
    labelbox = translate_airflow_asset(Asset("labelbox://projects/ckproj0000000000000000001"), None)
    assert (labelbox.namespace, labelbox.name) == ("labelbox", "projects/ckproj0000000000000000001")
    julep = translate_airflow_asset(Asset(f"julep://api.julep.ai/tasks/{TASK_UUID}"), None)
    assert (julep.namespace, julep.name) == ("julep://api.julep.ai", f"tasks/{TASK_UUID}")


def test_a_handler_given_another_scheme_says_so():
    with pytest.raises(ValueError, match=r"no asset URI shape is known for s3://"):
        normalise_asset_uri(urlsplit("s3://bucket/key"))
    with pytest.raises(ValueError, match=r"is not a Julep asset URI: those start with julep://"):
        asset_shapes()["julep"].normalise(urlsplit("flyte://h/p/d/t"))


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("s3://aws_default@bucket/exports/labels.ndjson", "s3://bucket/exports/labels.ndjson"),
        ("s3://user:secret-pass@bucket/k.json", "s3://bucket/k.json"),
        ("file:///data/exports/a.json", "file:///data/exports/a.json"),
        ("/data/exports/a.json", "file:///data/exports/a.json"),
        ("https://acct.blob.example/c/a.json?sv=2024&sig=SECRET-sig#x", "https://acct.blob.example/c/a.json"),
    ],
)
def test_a_files_asset_uri_names_the_file_not_the_connection(path, uri):
    assert file_asset_uri(path) == uri
