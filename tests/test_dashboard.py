"""The web dashboard in a real browser: Debian's chromium, headless, driven by Selenium through
chromium's own chromedriver (both installed by ``scripts/bootstrap``; nothing downloads a
browser). Also its sign-in cookie, checked over plain HTTP: it lets GETs read, and nothing else.

Screenshots are kept under ``tests/artifacts/`` (ignored by git) for a person to look at.
"""

import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from s3lite.gateway.api.session import session_value

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).parent / "artifacts"
WAIT_SECONDS = 30


@pytest.fixture
def browser():
    for program in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(program):
            pytest.fail(
                f"{program} is not installed: scripts/bootstrap installs chromium and "
                "chromium-driver with apt-get as root"
            )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests run as root, where chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--disable-background-networking",  # no outside connection, no update check
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, condition, what: str):
    try:
        return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1).until(lambda _: condition())
    except TimeoutException:
        raise AssertionError(f"the dashboard never showed {what}") from None


def node_cards(driver) -> dict[str, dict]:
    """The node cards as drawn now, read in one script: the page redraws them at every poll,
    so elements found one by one go stale."""
    cards = driver.execute_script(
        "return Array.from(document.querySelectorAll('#nodes > li'),"
        " card => [card.dataset.nodeId, card.dataset.status, card.dataset.bytesStored])"
    )
    return {node_id: {"status": status, "bytes": int(stored)} for node_id, status, stored in cards}


def bucket_cells(driver, name: str) -> list[str]:
    return driver.execute_script(
        "const row = document.querySelector(`#buckets tr[data-bucket='${arguments[0]}']`);"
        " return row ? Array.from(row.cells, cell => cell.textContent) : [];",
        name,
    )


def sign_in(driver, token: str) -> None:
    field = driver.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]").click()


def test_sign_in_see_nodes_join_and_fill(cluster, browser):
    browser.get(f"{cluster.url}/_cluster/dashboard")
    sign_in_form = browser.find_element(By.ID, "sign-in")
    wait_for(browser, sign_in_form.is_displayed, "the sign-in form")

    sign_in(browser, "not-the-token")
    error = browser.find_element(By.ID, "sign-in-error")
    wait_for(browser, error.is_displayed, "that a wrong token is refused")
    assert "not the cluster token" in error.text
    assert not browser.find_element(By.ID, "dashboard").is_displayed()
    assert browser.get_cookie("s3lite_session") is None

    sign_in(browser, cluster.token)
    wait_for(
        browser,
        lambda: [card["status"] for card in node_cards(browser).values()] == ["up"] * 6,
        "six nodes up",
    )
    assert set(node_cards(browser)) == {node.node_id for node in cluster.nodes}
    cookie = browser.get_cookie("s3lite_session")
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/_cluster")
    assert cookie["value"] != cluster.token
    assert cluster.token not in browser.current_url

    seventh = cluster.add_node()
    wait_for(
        browser,
        lambda: node_cards(browser).get(seventh.node_id, {}).get("status") == "up",
        "the seventh node",
    )
    assert len(node_cards(browser)) == 7

    before = sum(card["bytes"] for card in node_cards(browser).values())
    s3 = cluster.s3(retries={"max_attempts": 1})
    s3.create_bucket(Bucket="seen")
    body = os.urandom(700_000)
    s3.put_object(Bucket="seen", Key="in the browser", Body=body)
    layout = cluster.api("GET", "/_cluster/objects/seen/in%20the%20browser").json()
    stored = sum(shard["size"] for shard in layout["parts"] + layout["parity"])
    wait_for(
        browser,
        lambda: sum(card["bytes"] for card in node_cards(browser).values()) == before + stored,
        "the nodes' fill grow by the upload",
    )
    wait_for(browser, lambda: bucket_cells(browser, "seen")[:2] == ["seen", "1"], "the bucket")
    wait_for(
        browser,
        lambda: browser.execute_script(
            "return Array.from(document.querySelectorAll('#throughput-chart rect.in'))"
            ".some(bar => Number(bar.getAttribute('height')) > 0)"
        ),
        "the upload in the traffic chart",
    )
    for job in ("repair", "rebalance"):  # this gateway runs both: their panels say how far
        panel = browser.find_element(By.ID, f"job-{job}")
        wait_for(
            browser,
            lambda panel=panel: panel.get_attribute("data-state") in ("idle", "running", "done"),
            f"the {job} panel",
        )
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))

    # On a phone's width the page reflows instead of scrolling sideways.
    browser.set_window_size(390, 844)
    wait_for(
        browser,
        lambda: browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"
        ),
        "a page as narrow as a phone",
    )
    browser.save_screenshot(str(ARTIFACTS / "dashboard-phone.png"))

    browser.find_element(By.ID, "sign-out").click()
    wait_for(browser, sign_in_form.is_displayed, "the sign-in form after signing out")
    # The gateway's own lines never hold the token (the harness's "--- starting" lines do).
    logged = cluster.gateway.log_path.read_text().splitlines()
    assert not [line for line in logged if cluster.token in line and not line.startswith("---")]


def test_the_session_cookie_reads_but_never_changes_anything(shared_cluster):
    gateway = shared_cluster.gateway
    wrong = gateway.request("POST", "/_cluster/session", token=None, body=b'{"token": "guess"}')
    assert wrong.status == 401
    assert "Set-Cookie" not in wrong.headers

    signed_in = gateway.request(
        "POST",
        "/_cluster/session",
        token=None,
        body=f'{{"token": "{shared_cluster.token}"}}'.encode(),
    )
    assert signed_in.status == 204
    set_cookie = signed_in.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/_cluster"):
        assert attribute in set_cookie
    value = session_value(shared_cluster.token)
    assert f"s3lite_session={value}" in set_cookie
    cookie = {"Cookie": f"s3lite_session={value}"}

    for path in ("/_cluster/nodes", "/_cluster/buckets", "/_cluster/traffic", "/_cluster/metrics"):
        assert gateway.request("GET", path, token=None, headers=cookie).status == 200, path
    registration = b'{"node_id": null, "url": "http://127.0.0.1:9", "capacity_bytes": 0}'
    refused = gateway.request(
        "POST", "/_cluster/nodes", token=None, headers=cookie, body=registration
    )
    assert refused.status == 401
    forged = {"Cookie": "s3lite_session=" + session_value("another token")}
    assert gateway.request("GET", "/_cluster/nodes", token=None, headers=forged).status == 401
    # The page itself holds no data: it loads without a token, and runs only its own files.
    page = gateway.request("GET", "/_cluster/dashboard/", token=None)
    assert page.status == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
