"""`prodcat review` driven in headless Chromium (Selenium, Debian's chromium-driver): a reviewer's
session end to end, and a server killed mid-session that loses nothing."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from prodcat.review.items import load_queue
from prodcat.review.log import ReviewLog

pytestmark = pytest.mark.slow
PRODCAT = str(Path(sys.executable).parent / "prodcat")


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is needed to drive the review app: `sudo apt-get install -y {package}` "
                    "(scripts/system-packages.sh does this)")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = _tool("chromium", "chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(_tool("chromedriver", "chromium-driver")))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


class Server:
    """`prodcat review` in a subprocess on a free port."""

    def __init__(self, queue: Path, log: Path, names: Path) -> None:
        self.process = subprocess.Popen(
            [PRODCAT, "review", "--queue-file", str(queue), "--log", str(log), "--port", "0", "--reviewer", "ana",
             "--names", str(names)], stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        line = self.process.stderr.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        assert found, line + self.process.stderr.read()
        self.url = found.group(1)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def server(review_queue: Path, tmp_path: Path) -> Iterator[Server]:
    started = Server(review_queue, tmp_path / "review.sqlite", tmp_path / "names.de.txt")
    yield started
    if started.process.poll() is None:
        started.kill()


def _on_item(driver: webdriver.Chrome, product_id: str) -> None:
    # the page is being replaced while this looks: an element may go stale under it
    WebDriverWait(driver, 30, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
        lambda d: d.find_element(By.ID, "product").get_attribute("data-item-id") == f"withheld:{product_id}")


def _key(driver: webdriver.Chrome, key: str) -> None:
    driver.find_element(By.TAG_NAME, "body").send_keys(key)


def _decisions(log: Path) -> list[tuple[str, str, str | None]]:
    return [(d.product_id, d.verdict, d.category_id) for d in ReviewLog(log).decisions()]


def test_a_review_session_in_the_browser(browser: webdriver.Chrome, server: Server, review_queue: Path, tmp_path: Path) -> None:
    order = [item.product_id for item in load_queue(review_queue).items]
    assert order == ["p5", "p4", "p3", "p2", "p1"]  # the nearest miss first
    browser.get(server.url)
    _on_item(browser, "p5")
    assert "Kite number 5" in browser.find_element(By.ID, "title").text
    assert browser.find_element(By.ID, "candidate-1").text.startswith("1 Toys > Kites > Stunt Kites")
    _key(browser, "1")  # accept the decoded path
    _on_item(browser, "p4")
    _key(browser, "/")
    browser.switch_to.active_element.send_keys("kastendrachen")  # German names, same ids; results as you type
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results button"))
    browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    assert browser.switch_to.active_element.text.startswith("Toys > Kites > Box Kites")
    browser.switch_to.active_element.send_keys(Keys.ENTER)  # the focused first result
    _on_item(browser, "p3")
    _key(browser, "s")  # skip: stays undecided
    _on_item(browser, "p2")
    _key(browser, "c")  # cannot tell
    _on_item(browser, "p1")
    browser.refresh()
    _on_item(browser, "p1")
    log = tmp_path / "review.sqlite"
    assert _decisions(log) == [("p5", "accept", "3"), ("p4", "correct", "4"), ("p2", "cannot_tell", None)]
    _key(browser, "2")  # the parent of the decoded path
    _on_item(browser, "p3")  # the skipped product comes back
    browser.back()  # back to p1's page, which now shows its decision instead of a form
    browser.refresh()
    assert "accept" in browser.find_element(By.ID, "decided").text
    assert _decisions(log)[-1] == ("p1", "accept", "2") and len(_decisions(log)) == 4


def test_a_server_killed_mid_session_loses_nothing(browser: webdriver.Chrome, server: Server, review_queue: Path,
                                                   tmp_path: Path) -> None:
    log = tmp_path / "review.sqlite"
    browser.get(server.url)
    _on_item(browser, "p5")
    _key(browser, "1")
    _on_item(browser, "p4")
    _key(browser, "c")
    _on_item(browser, "p3")  # both decisions acknowledged (the browser was sent on)
    server.kill()
    assert _decisions(log) == [("p5", "accept", "3"), ("p4", "cannot_tell", None)]
    again = Server(review_queue, log, tmp_path / "names.de.txt")
    try:
        browser.get(again.url)
        _on_item(browser, "p3")  # the session resumes at the first undecided product
        _key(browser, "/")
        browser.switch_to.active_element.send_keys("stunt", Keys.ENTER)  # the search without waiting: a page load
        WebDriverWait(browser, 30).until(lambda d: "q=stunt" in d.current_url)
        assert browser.switch_to.active_element.text.startswith("Toys > Kites > Stunt Kites")
        browser.switch_to.active_element.send_keys(Keys.ENTER)
        _on_item(browser, "p2")
        assert _decisions(log) == [("p5", "accept", "3"), ("p4", "cannot_tell", None), ("p3", "correct", "3")]
    finally:
        again.kill()


def test_a_page_of_another_origin_cannot_post_decisions(browser: webdriver.Chrome, server: Server, tmp_path: Path) -> None:
    forged = (f"<form method='post' action='{server.url}decide'><input name='item_id' value='withheld:p5'>"
              "<input name='verdict' value='accept'><input name='category_id' value='3'>"
              "<input name='request_id' value='forged-request-1'><input name='csrf_token' value='guess'></form>"
              "<script>document.forms[0].submit()</script>")
    browser.get("data:text/html," + forged)
    WebDriverWait(browser, 30).until(lambda d: "refused" in d.find_element(By.TAG_NAME, "body").text)
    assert browser.find_element(By.TAG_NAME, "body").text.strip() == "cross-origin request from 'null' refused"
    assert _decisions(tmp_path / "review.sqlite") == []
