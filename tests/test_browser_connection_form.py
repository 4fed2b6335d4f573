"""The Flyte connection form in the real Airflow UI, driven headless through Debian's chromium."""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from airflow_remote_tasks.emulators.flyte import FlyteEmulator
from airflow_remote_tasks.emulators.server import ServerThread

pytestmark = [pytest.mark.cluster, pytest.mark.browser, pytest.mark.timeout(600)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
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
SECRET = "form-s3cr3t-9"


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
            with contextlib.suppress(httpx.HTTPStatusError):  # not saved when the test failed early
                airflow.api("DELETE", f"connections/{CONN_ID}")


@pytest.fixture
def secured_flyte() -> Iterator[ServerThread]:
    """A Flyte emulator that wants OAuth2 client credentials, so a wrong key is refused for real."""
    emulator = FlyteEmulator(client_id="airflow", client_secret=SECRET, auth_header="flyte-authorization")
    with ServerThread(emulator.app) as server:
        yield server


def test_flyte_connection_form(airflow, page, secured_flyte):
    from playwright.sync_api import expect

    endpoint = f"127.0.0.1:{secured_flyte.port}"
    page.goto(f"{airflow.url}/")
    page.locator("input[name=username]").fill(airflow.login[0])
    page.locator("input[name=password]").fill(airflow.login[1])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)

    page.goto(f"{airflow.url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input[name=connection_id]").fill(CONN_ID)
    connection_type = dialog.get_by_role("combobox").first
    connection_type.click()
    page.keyboard.type("Flyte 2")
    page.get_by_role("option", name="Flyte 2 / Union (remote tasks)").click()

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
    message = press_test_in_the_list(page, expect_ok=False)
    assert "refused client 'airflow'" in message and "API key" in message, message
    assert "not-the-secret" not in message

    row = page.get_by_role("row").filter(has_text=CONN_ID)
    row.get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    open_section(dialog, "Standard Fields")
    dialog.locator("input[name=password]").fill(api_key(endpoint, SECRET))
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)
    press_test_in_the_list(page, expect_ok=True)

    stored = airflow.api("GET", f"connections/{CONN_ID}")
    assert stored["conn_type"] == "remote_tasks_flyte"
    assert stored["host"] == "127.0.0.1" and stored["port"] == secured_flyte.port
    assert '"insecure": true' in stored["extra"] and '"project": "flytesnacks"' in stored["extra"]


def open_section(dialog: object, name: str) -> None:
    section = dialog.get_by_role("button", name=name, exact=True)  # type: ignore[attr-defined]
    if section.get_attribute("aria-expanded") == "false":
        section.click()


def press_test_in_the_list(page: object, *, expect_ok: bool) -> str:
    from playwright.sync_api import expect

    page.get_by_role("row").filter(has_text=CONN_ID).get_by_role("button", name="Test Connection").click()  # type: ignore[attr-defined]
    title = "Test Connection Successful" if expect_ok else "Test Connection Failed"
    toast = page.get_by_role("status").filter(has_text=title)  # type: ignore[attr-defined]
    expect(toast).to_be_visible()
    text: str = toast.inner_text()
    page.screenshot(path=str(ARTIFACTS / f"flyte-connection-test-{'ok' if expect_ok else 'failed'}.png"))  # type: ignore[attr-defined]
    return text
