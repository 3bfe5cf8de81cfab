"""The control page at http://orange-proxy.test/, in real headless Chromium (Debian's, driven by
Playwright) that uses the proxy, while an app-like client calls the APIs through the same proxy."""

from __future__ import annotations

import os
import shutil

import pytest
from flows import DLV, bearer, dlv_body, lab_token

PAGE = "http://orange-proxy.test/"
CHROMIUM = os.environ.get("ORANGE_PROXY_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying Google's hosts on this closed network.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}  # a phone screen, in CSS pixels


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: .ci/run installs Debian's chromium")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set ORANGE_PROXY_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # A fresh temporary profile each launch (Playwright's default for launch()).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def open_page(browser, proxy, **context_options):
    context = browser.new_context(
        proxy={"server": proxy.url}, viewport=PHONE, is_mobile=True, has_touch=True, **context_options
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(PAGE)
    expect(page.locator("#live")).to_have_text("live")
    return context, page


def toggle(page, label):
    return page.get_by_role("button", name=label, exact=True)


def test_toggle_a_fault_on_the_page_then_clear_it(browser, proxy_factory):
    proxy = proxy_factory()
    app = proxy.session()
    token = lab_token(app)
    context, page = open_page(browser, proxy)
    try:
        expect(page.locator("#token-form")).to_be_hidden()  # no token needed from loopback
        assert page.locator("#mode").text_content() == "synth"
        assert page.locator("#profile").text_content() == "orange"
        unavailable = toggle(page, "Service unavailable 503")
        assert unavailable.get_attribute("aria-pressed") == "false"

        unavailable.click()
        page.wait_for_selector("#faults li[data-fault-id]")
        assert unavailable.get_attribute("aria-pressed") == "true"
        failed = app.post(DLV, headers=bearer(token), json=dlv_body())
        assert failed.status_code == 503

        # The exchange shows up on the page as faulted, newest first.
        page.wait_for_selector("#events li[data-action='faulted']")
        newest = page.locator("#events li").first
        assert "503" in newest.text_content() and "service_unavailable" in newest.text_content()

        page.get_by_role("button", name="Clear all").click()
        page.wait_for_selector("#faults li", state="detached")
        assert unavailable.get_attribute("aria-pressed") == "false"
        passed = app.post(DLV, headers=bearer(token), json=dlv_body())
        assert passed.status_code == 200
        page.wait_for_selector("#events li[data-action='synthesised']:has-text('/verify')")

        # A second tap turns a toggle off again, and a typed spec works too.
        expired = toggle(page, "Token expired")
        expired.click()
        page.wait_for_selector("#faults li[data-fault-id]")
        assert expired.get_attribute("aria-pressed") == "true"
        assert app.post(DLV, headers=bearer(token), json=dlv_body()).status_code == 401
        expired.click()
        page.wait_for_selector("#faults li", state="detached")
        fresh = lab_token(app)  # a new token works: the expiry was real, not a permanent 401
        assert app.post(DLV, headers=bearer(fresh), json=dlv_body()).status_code == 200

        page.fill("#spec", "status:code=404,times=1")
        page.get_by_role("button", name="Add").click()
        page.wait_for_selector("#faults li:has-text('status:code=404,times=1')")
        assert app.post(DLV, headers=bearer(fresh), json=dlv_body()).status_code == 404
        page.fill("#spec", "teleport")
        page.get_by_role("button", name="Add").click()
        page.wait_for_selector("#message.shown")
        assert "teleport" in page.locator("#message").text_content()

        # Readable on a phone: nothing wider than the screen.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]
    finally:
        context.close()


def test_page_with_a_control_token(browser, proxy_factory):
    proxy = proxy_factory("--control-token", "s3cret")
    context = browser.new_context(proxy={"server": proxy.url}, viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(PAGE)
        # Without the token the page asks for it; with it, it goes live.
        expect(page.locator("#token-form")).to_be_visible()
        page.fill("#token", "wrong")
        with page.expect_response(lambda r: r.url.endswith("/api/state")) as answer:
            page.get_by_role("button", name="Use token").click()
        assert answer.value.status == 401  # the page did send the wrong token, and it was refused
        expect(page.locator("#message")).to_contain_text("control token")
        expect(page.locator("#token-form")).to_be_visible()
        assert page.locator("#live").text_content() != "live"
        page.fill("#token", "s3cret")
        page.get_by_role("button", name="Use token").click()
        expect(page.locator("#live")).to_have_text("live")
        expect(page.locator("#token-form")).to_be_hidden()
        toggle(page, "Rate limited 429").click()
        page.wait_for_selector("#faults li[data-fault-id]")
        # The token given in the URL fragment works as well (and is not sent as a URL).
        fresh = browser.new_context(proxy={"server": proxy.url}, viewport=PHONE)
        other = fresh.new_page()
        other.goto(PAGE + "#token=s3cret")
        expect(other.locator("#live")).to_have_text("live")
        assert other.locator("#faults li").count() == 1
        assert other.url == PAGE
        fresh.close()
    finally:
        context.close()


def test_the_page_shows_markup_as_text(browser, proxy_factory):
    """Fault names and request URLs come from other people: markup in them is shown, never run."""
    proxy = proxy_factory()
    app = proxy.session()
    markup = "<img src=x onerror=window.pwned=1>"
    added = app.post(
        "http://orange-proxy.test/api/faults", json={"fault": "latency", "ms": 1, "name": markup}
    )
    assert added.status_code == 201
    app.get("https://api.orange.com/camara/unknown")
    context, page = open_page(browser, proxy)
    try:
        page.wait_for_selector(
            "#events li[data-action='faulted+latency'], #events li[data-action='synthesised']"
        )
        assert markup in page.locator("#faults").text_content()
        assert markup in page.locator("#events").text_content()  # the fault-added event
        assert page.evaluate("window.pwned === undefined")
        assert page.locator("main img").count() == 0
    finally:
        context.close()
