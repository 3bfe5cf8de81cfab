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
        # token_expired fires once: used up, its toggle turns off by itself and the list says so.
        expect(expired).to_have_attribute("aria-pressed", "false")
        expect(page.locator("#faults li")).to_contain_text("used up")
        fresh = lab_token(app)  # a new token works: the expiry was real, not a permanent 401
        assert app.post(DLV, headers=bearer(fresh), json=dlv_body()).status_code == 200
        # A tap arms a fresh one in place of the used-up one; the next tap turns it off.
        expired.click()
        expect(expired).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#faults li")).to_have_count(1)
        expect(page.locator("#faults li")).not_to_contain_text("used up")
        expired.click()
        page.wait_for_selector("#faults li", state="detached")
        assert expired.get_attribute("aria-pressed") == "false"

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


def test_the_page_says_loading_until_the_proxy_answers(browser, proxy_factory):
    """Before its first answer the page cannot know: it says so, not "No faults … Nothing yet"."""
    proxy = proxy_factory("--fault", "latency:ms=1,times=1")
    context = browser.new_context(proxy={"server": proxy.url}, viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    held = []
    page.route("**/api/state", lambda route: held.append(route))  # no answer until released
    try:
        page.goto(PAGE)
        page.wait_for_function("document.readyState === 'complete'")
        page.wait_for_timeout(300)
        assert held, "the page asked for the state"
        expect(page.locator("#faults-loading")).to_be_visible()
        expect(page.locator("#events-loading")).to_be_visible()
        expect(page.locator("#no-faults")).to_be_hidden()
        expect(page.locator("#no-events")).to_be_hidden()
        for route in held:
            route.continue_()
        page.unroute("**/api/state")
        expect(page.locator("#live")).to_have_text("live")
        expect(page.locator("#faults li")).to_have_count(1)  # the fault given at start
        expect(page.locator("#faults-loading")).to_be_hidden()
        expect(page.locator("#no-faults")).to_be_hidden()
        expect(page.locator("#events li")).to_contain_text("fault added")  # logged at start
        expect(page.locator("#events-loading")).to_be_hidden()
        page.get_by_role("button", name="Clear all").click()
        expect(page.locator("#no-faults")).to_be_visible()
    finally:
        context.close()


def test_the_event_list_shows_why_an_answer_is_an_error(browser, proxy_factory):
    proxy = proxy_factory()
    app = proxy.session()
    token = lab_token(app)
    context, page = open_page(browser, proxy)
    try:
        assert app.post(DLV, headers=bearer("not-a-token"), json=dlv_body()).status_code == 401
        refused = page.locator("#events li[data-action='synthesised']").first
        expect(refused).to_contain_text("401")
        expect(refused.locator(".reason")).to_have_text("invalid access token")
        toggle(page, "Service unavailable 503").click()
        page.wait_for_selector("#faults li[data-fault-id]")
        assert app.post(DLV, headers=bearer(token), json=dlv_body()).status_code == 503
        faulted = page.locator("#events li[data-action='faulted']").first
        expect(faulted.locator(".reason")).to_have_text("injected fault: service_unavailable")
        page.get_by_role("button", name="Clear all").click()
        page.wait_for_selector("#faults li", state="detached")
        assert app.post(DLV, headers=bearer(token), json=dlv_body()).status_code == 200
        expect(page.locator("#events li[data-action='synthesised']").first).to_contain_text("200")
        assert page.locator("#events li[data-action='synthesised']").first.locator(".reason").count() == 0
    finally:
        context.close()


def test_fault_counts_read_as_counts_and_a_limit_only_where_there_is_one(browser, proxy_factory):
    proxy = proxy_factory()
    app = proxy.session()
    token = lab_token(app)
    context, page = open_page(browser, proxy)
    try:
        page.fill("#spec", "latency:ms=1,api=location-verification")  # no limit
        page.get_by_role("button", name="Add").click()
        # The page empties the field once its fault is added: the next spec only after that.
        expect(page.locator("#faults li:has-text('latency:ms=1')")).to_have_count(1)
        expect(page.locator("#spec")).to_have_value("")
        page.fill("#spec", "service_unavailable:times=3,api=location-verification,after=1")
        page.get_by_role("button", name="Add").click()
        unlimited = page.locator("#faults li:has-text('latency:ms=1')")
        limited = page.locator("#faults li:has-text('service_unavailable')")
        expect(unlimited.locator(".muted")).to_have_text("fired 0 · matched 0")
        expect(limited.locator(".muted")).to_have_text("fired 0 of 3 times · matched 0")
        codes = [app.post(DLV, headers=bearer(token), json=dlv_body()).status_code for _ in range(3)]
        assert codes == [200, 503, 503]
        expect(unlimited.locator(".muted")).to_have_text("fired 3 · matched 3")
        expect(limited.locator(".muted")).to_have_text("fired 2 of 3 times · matched 3")
        assert " of 0" not in page.locator("#faults").text_content()
    finally:
        context.close()


def test_a_hung_request_the_client_gave_up_on_is_among_the_latest_exchanges(browser, proxy_factory):
    import requests

    proxy = proxy_factory()
    app = proxy.session()
    token = lab_token(app)
    context, page = open_page(browser, proxy)
    try:
        page.fill("#spec", "hang:times=1,api=location-verification")
        page.get_by_role("button", name="Add").click()
        page.wait_for_selector("#faults li[data-fault-id]")
        with pytest.raises(requests.Timeout):
            app.post(DLV, headers=bearer(token), json=dlv_body(), timeout=1.5)
        app.close()  # the app gives up: its connection closes
        hung = page.locator("#events li[data-action='faulted']").first
        expect(hung.locator(".reason")).to_contain_text("client gave up after ")
        expect(hung).to_contain_text("/verify")
    finally:
        context.close()


def test_the_event_list_names_the_rules_override_that_answered(browser, proxy_factory, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "overrides:\n"
        "  - name: lab-outage\n"
        "    match: {api: location-verification, operation: verify}\n"
        "    response:\n"
        "      status: 503\n"
        "      body: {status: 503, code: UNAVAILABLE, message: Service unavailable}\n"
    )
    proxy = proxy_factory("--rules", str(rules))
    app = proxy.session()
    token = lab_token(app)
    context, page = open_page(browser, proxy)
    try:
        assert app.post(DLV, headers=bearer(token), json=dlv_body()).status_code == 503
        answered = page.locator("#events li[data-action='synthesised']:has-text('/verify')").first
        expect(answered.locator(".override")).to_have_text("override lab-outage")
        expect(answered.locator(".reason")).to_contain_text("rules override 'lab-outage' (")
    finally:
        context.close()
