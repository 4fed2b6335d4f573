"""The Flyte and Labelbox connection forms in the real Airflow UI, driven headless through Debian's chromium."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
from collections.abc import Iterator

import httpx
import pytest

from airflow_remote_tasks.emulators.flyte import FlyteEmulator
from airflow_remote_tasks.emulators.labelbox import LabelboxEmulator
from airflow_remote_tasks.emulators.server import ServerThread
from support import ROOT

pytestmark = [pytest.mark.cluster, pytest.mark.browser, pytest.mark.timeout(600)]

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CONN_ID = "flyte_from_the_form"
LABELBOX_CONN_ID = "labelbox_from_the_form"
SECRET = "form-s3cr3t-9"
LABELBOX_SECRET = "form-lb-key-31"


def api_key(endpoint: str, secret: str) -> str:
    return base64.b64encode(f"{endpoint}:airflow:{secret}:emulated".encode()).decode()


@pytest.fixture
def page(airflow) -> Iterator[object]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `make test` installs Debian's chromium (make chromium)")
        pytest.skip("chromium is not installed (make chromium installs it on Debian)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            browser.close()
            for conn_id in (CONN_ID, LABELBOX_CONN_ID):
                with contextlib.suppress(httpx.HTTPStatusError):  # not saved when a test failed early
                    airflow.api("DELETE", f"connections/{conn_id}")


@pytest.fixture
def secured_flyte() -> Iterator[ServerThread]:
    """A Flyte emulator that wants OAuth2 client credentials, so a wrong key is refused for real."""
    emulator = FlyteEmulator(client_id="airflow", client_secret=SECRET, auth_header="flyte-authorization")
    with ServerThread(emulator.app) as server:
        yield server


def log_in_and_add(airflow: object, page: object, conn_id: str, typed: str, option: str) -> object:
    """Log in, open Add Connection, name it and pick its type; the dialog."""
    page.goto(f"{airflow.url}/")  # type: ignore[attr-defined]
    page.locator("input[name=username]").fill(airflow.login[0])  # type: ignore[attr-defined]
    page.locator("input[name=password]").fill(airflow.login[1])  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.wait_for_url(lambda url: "/auth/login" not in url)  # type: ignore[attr-defined]
    page.goto(f"{airflow.url}/connections")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Add Connection").click()  # type: ignore[attr-defined]
    dialog = page.get_by_role("dialog")  # type: ignore[attr-defined]
    dialog.locator("input[name=connection_id]").fill(conn_id)
    dialog.get_by_role("combobox").first.click()
    page.keyboard.type(typed)  # type: ignore[attr-defined]
    page.get_by_role("option", name=option).click()  # type: ignore[attr-defined]
    return dialog


def test_flyte_connection_form(airflow, page, secured_flyte):
    from playwright.sync_api import expect

    endpoint = f"127.0.0.1:{secured_flyte.port}"
    dialog = log_in_and_add(airflow, page, CONN_ID, "Flyte 2", "Flyte 2 / Union (remote tasks)")

    # Flyte's own fields, relabelled and with the secrets masked
    expect(dialog.get_by_text("Endpoint", exact=True)).to_be_visible()
    expect(dialog.get_by_text("API key", exact=True)).to_be_visible()
    open_section(dialog, "Extra Fields")
    for field in ("project", "org", "client_id", "console_url", "ca_bundle"):
        expect(dialog.locator(f"[name=element_{field}]")).to_be_attached()
    for secret in ("password", "element_client_secret", "element_access_token"):
        assert dialog.locator(f"input[name={secret}]").get_attribute("type") == "password", secret
    for hidden in ("login", "schema"):
        expect(dialog.locator(f"input[name={hidden}]")).to_have_count(0)

    # filled for the emulator, with a key whose secret is wrong
    dialog.locator("[name=element_project]").fill("flytesnacks")
    plain_http = dialog.locator("[id='switch:element_insecure']")
    plain_http.click()
    expect(plain_http).to_have_attribute("data-state", "checked")
    ARTIFACTS.mkdir(exist_ok=True)
    dialog.screenshot(path=str(ARTIFACTS / "flyte-connection-form-extra.png"))
    open_section(dialog, "Standard Fields")
    dialog.locator("input[name=host]").fill("127.0.0.1")
    dialog.locator("input[name=port]").fill(str(secured_flyte.port))
    dialog.locator("input[name=password]").fill(api_key(endpoint, "not-the-secret"))
    dialog.screenshot(path=str(ARTIFACTS / "flyte-connection-form.png"))
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)

    # Airflow 3.3 tests a saved connection: its row's Test button
    message = press_test_in_the_list(page, CONN_ID, expect_ok=False)
    assert "refused client 'airflow'" in message and "API key" in message, message
    assert "not-the-secret" not in message

    row = page.get_by_role("row").filter(has_text=CONN_ID)
    row.get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    open_section(dialog, "Standard Fields")
    dialog.locator("input[name=password]").fill(api_key(endpoint, SECRET))
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)
    press_test_in_the_list(page, CONN_ID, expect_ok=True)

    stored = airflow.api("GET", f"connections/{CONN_ID}")
    assert stored["conn_type"] == "remote_tasks_flyte"
    assert stored["host"] == "127.0.0.1" and stored["port"] == secured_flyte.port
    assert '"insecure": true' in stored["extra"] and '"project": "flytesnacks"' in stored["extra"]


def open_section(dialog: object, name: str) -> None:
    section = dialog.get_by_role("button", name=name, exact=True)  # type: ignore[attr-defined]
    if section.get_attribute("aria-expanded") == "false":
        section.click()


def press_test_in_the_list(page: object, conn_id: str, *, expect_ok: bool) -> str:
    from playwright.sync_api import expect

    page.get_by_role("row").filter(has_text=conn_id).get_by_role("button", name="Test Connection").click()  # type: ignore[attr-defined]
    title = "Test Connection Successful" if expect_ok else "Test Connection Failed"
    toast = page.get_by_role("status").filter(has_text=title).last  # type: ignore[attr-defined]
    expect(toast).to_be_visible()
    text: str = toast.inner_text()
    shot = f"{conn_id.partition('_')[0]}-connection-test-{'ok' if expect_ok else 'failed'}.png"
    page.screenshot(path=str(ARTIFACTS / shot))  # type: ignore[attr-defined]
    return text


@pytest.fixture
def secured_labelbox() -> Iterator[ServerThread]:
    """A Labelbox emulator that accepts one key only, so a wrong key is refused for real."""
    emulator = LabelboxEmulator(api_key=LABELBOX_SECRET)
    with ServerThread(emulator.app) as server:
        yield server


def test_labelbox_connection_form(airflow, page, secured_labelbox):
    from playwright.sync_api import expect

    dialog = log_in_and_add(airflow, page, LABELBOX_CONN_ID, "Labelbox", "Labelbox (remote tasks)")
    expect(dialog.get_by_text("GraphQL endpoint", exact=True)).to_be_visible()
    expect(dialog.get_by_text("API key", exact=True)).to_be_visible()
    assert dialog.locator("input[name=password]").get_attribute("type") == "password"
    for hidden in ("login", "schema"):
        expect(dialog.locator(f"input[name={hidden}]")).to_have_count(0)
    open_section(dialog, "Extra Fields")
    for field in ("app_url", "proxy", "ca_bundle"):
        expect(dialog.locator(f"[name=element_{field}]")).to_be_attached()
    assert dialog.locator("input[name=element_proxy]").get_attribute("type") == "password"
    dialog.locator("[name=element_app_url]").fill(f"http://127.0.0.1:{secured_labelbox.port}")
    open_section(dialog, "Standard Fields")
    dialog.locator("input[name=host]").fill("http://127.0.0.1/graphql")
    dialog.locator("input[name=port]").fill(str(secured_labelbox.port))
    dialog.locator("input[name=password]").fill("not-the-key")
    ARTIFACTS.mkdir(exist_ok=True)
    dialog.screenshot(path=str(ARTIFACTS / "labelbox-connection-form.png"))
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)

    message = press_test_in_the_list(page, LABELBOX_CONN_ID, expect_ok=False)
    assert "The API key was refused" in message and "not-the-key" not in message, message

    row = page.get_by_role("row").filter(has_text=LABELBOX_CONN_ID)
    row.get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    open_section(dialog, "Standard Fields")
    dialog.locator("input[name=password]").fill(LABELBOX_SECRET)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)
    message = press_test_in_the_list(page, LABELBOX_CONN_ID, expect_ok=True)
    assert "Emulator User" in message and "Emulated Organization" in message, message
    stored = airflow.api("GET", f"connections/{LABELBOX_CONN_ID}")
    assert stored["conn_type"] == "remote_tasks_labelbox" and stored["port"] == secured_labelbox.port
