"""The demo under the server's default Content Security Policy, in real Chromium: it
loads, registers its worker, syncs over HTTP and the WebSocket, and the browser reports no
policy violation (neither a `securitypolicyviolation` event nor a console message).

Every browser test runs under this policy. Playwright's wait_for_function runs a predicate
written as an expression with the page's eval, which the policy forbids (no 'unsafe-eval'):
write predicates as functions (`() => ...`), or poll with page.evaluate as here."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import Browser

from syncserver.config.settings import DEFAULT_CSP
from tests.browser.demo_app import poll, server_todos
from tests.server import ServerProcess

# Runs before any script of the page; the policy does not apply to it.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(
  { directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile }));
"""


def test_the_demo_syncs_under_the_default_policy_without_violations(
        browser: Browser, demo: ServerProcess) -> None:
    page_headers = httpx.get(demo.url + "/", timeout=10).headers
    assert page_headers["content-security-policy"] == DEFAULT_CSP  # the policy is in force
    worker_headers = httpx.get(demo.url + "/sw.js", timeout=10).headers
    assert worker_headers["content-security-policy"] == DEFAULT_CSP

    space = f"csp-{uuid.uuid4().hex[:10]}"
    context = browser.new_context()
    try:
        context.add_init_script(RECORD_VIOLATIONS)
        console: list[str] = []
        context.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{demo.url}/?space={space}")

        def check(expression: str) -> bool:
            return bool(page.evaluate(expression))

        poll(page, lambda: check("document.body.dataset.ready === 'true'"), what="the app")
        poll(page, lambda: check("navigator.serviceWorker.controller !== null"),
             what="the worker (importScripts under the policy) to control the page")
        page.fill("#title", "under a policy")
        page.click("#new-todo button[type=submit]")
        poll(page, lambda: [t["data"]["title"] for t in server_todos(demo.url, space).values()]
             == ["under a policy"], what="the todo on the server")
        poll(page, lambda: check("window.app.sync.feedState === 'live'"),
             what="the WebSocket feed (connect-src) to be live")
        poll(page, lambda: check("window.app.sync.pending === 0"), what="the outbox to drain")
        page.reload()  # the shell from the worker's cache this time
        poll(page, lambda: check("document.body.dataset.ready === 'true'"), what="the reload")
        poll(page, lambda: page.eval_on_selector_all(
            "#todos li .title", "els => els.map(e => e.value)") == ["under a policy"],
            what="the todo after the reload")
        assert page.evaluate("window.__violations") == []
        assert not [line for line in console if "Content Security Policy" in line], console
        assert errors == []
        # The recorder works: an inline script, which the policy forbids, is reported.
        page.evaluate("() => { const s = document.createElement('script');"
                      " s.textContent = 'window.inlineRan = true'; document.head.append(s); }")
        poll(page, lambda: page.evaluate("window.__violations.length") == 1,
             what="the inline script's violation")
        assert page.evaluate("window.inlineRan") is None
    finally:
        context.close()
