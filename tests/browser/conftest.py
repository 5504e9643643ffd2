"""Browser tests of the web console: Debian's chromium driven by pytest-playwright.

Chromium comes from the system (`apt-get install chromium`: /usr/bin/chromium, or
PARAMSTORE_CHROMIUM), never from `playwright install`; it runs with --no-sandbox because
CI runs as root in a container.  Every page a test opens records the CSP violations the
browser reports and the dialogs it was asked to open (an executed `alert` payload), so a
test can require both to be zero.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("PARAMSTORE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

#: collects `securitypolicyviolation` events (installed before any page script runs; the
#: init script is injected by the browser, so the page's own CSP does not block it)
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || ''));
});
"""


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("PARAMSTORE_REQUIRE_BROWSER"):
            pytest.fail(f"chromium not found at {CHROMIUM} (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}


@pytest.fixture
def watched_page(page):
    """A page whose CSP violations, dialogs and console errors are kept for the test."""
    page.add_init_script(WATCH_CSP)
    page.dialogs = []
    page.console_errors = []

    def on_dialog(dialog):
        page.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    page.set_default_timeout(15_000)
    return page


def csp_violations(page) -> list:
    return page.evaluate("window.__cspViolations || []")
