"""Driving the app (Flutter rendered by Flet) in Chromium through its semantics tree.

Flutter draws on a canvas; the semantics tree (turned on by a click on
`flt-semantics-placeholder`) mirrors it in the DOM, and every control of the app carries an
identifier there (`[flt-semantics-identifier=…]`). Text fields are `<input>`s inside their node.
Playwright's HTTP cache is off in any context with routes, which these pages have: every
request to a host other than 127.0.0.1 is aborted and counted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # WebGL in software, so screenshots show what Flutter draws.
    "--enable-unsafe-swiftshader",
    # A second fence behind the routes below: no name but 127.0.0.1 resolves.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
PHONE = {"width": 400, "height": 860}
DESKTOP = {"width": 1280, "height": 860}
PHONE_MAX_WIDTH = 720  # flightdeck.ui.widgets: narrower is laid out as a phone
STEP_TIMEOUT_MS = 30_000  # a step on a busy 2-core machine (Flutter renders in software)
LOCAL_HOSTS = {"127.0.0.1"}
FILL_ATTEMPTS = 3
FOCUS_TIMEOUT_MS = 3_000
SCREENSHOT_ATTEMPTS = 12
SCREENSHOT_PAUSE_MS = 250
# A semantics node's text: its own and its descendants' text and aria-labels (Flutter merges
# a card's texts into one label).
TEXT_OF = """(selector) => {
  const node = document.querySelector(selector);
  if (!node) return "";
  const labelled = [node, ...node.querySelectorAll("[aria-label]")];
  return [node.textContent, ...labelled.map((e) => e.getAttribute("aria-label") || "")].join(" ");
}"""


@dataclass
class ExternalRequests:
    """Every request the app's pages made to another host: aborted, and listed here."""

    urls: list[str] = field(default_factory=list)


def is_external(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https", "ws", "wss"} and parts.hostname not in LOCAL_HOSTS


def new_context(
    browser: Browser, external: ExternalRequests, size: dict[str, int]
) -> BrowserContext:
    context = browser.new_context(viewport=size)
    context.set_default_timeout(STEP_TIMEOUT_MS)

    def abort(route: object) -> None:
        external.urls.append(route.request.url)
        route.abort()

    context.route(is_external, abort)
    return context


class AppPage:
    """One browser page of the app."""

    def __init__(self, page: Page, artifacts: Path, name: str) -> None:
        self.page = page
        self.artifacts = artifacts
        self.name = name

    def open(self, base_url: str, first: str) -> float:
        """Loads the app and waits for control `first`; the seconds that took."""
        started = time.perf_counter()
        self.page.goto(base_url + "/")
        placeholder = self.page.locator("flt-semantics-placeholder")
        placeholder.wait_for(state="attached")
        placeholder.dispatch_event("click")  # turns Flutter's semantics tree on
        self.node(first).wait_for()
        return time.perf_counter() - started

    def node(self, identifier: str) -> Locator:
        return self.page.locator(self._selector(identifier)).first

    @staticmethod
    def _selector(identifier: str) -> str:
        return f"[flt-semantics-identifier='{identifier}']"

    def settle(self) -> None:
        """Two frames: what the last update changed is laid out and hit-testable."""
        self.page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )

    @contextmanager
    def pictured_on_failure(self, step: str) -> Iterator[None]:
        """A step that fails (times out, or finds what it did not expect) leaves a picture of
        the page as it was, `failed-<page>-<step>-<width>.png`: what the app showed instead."""
        try:
            yield
        except (PlaywrightTimeoutError, AssertionError):
            if self.artifacts != Path():  # measure_load's page keeps no pictures
                with suppress(Exception):  # the step's own error is what the test reports
                    width = self.page.viewport_size["width"]
                    path = self.artifacts / f"failed-{self.name}-{step}-{width}.png"
                    path.write_bytes(self.page.screenshot())
            raise

    def click(self, identifier: str) -> None:
        with self.pictured_on_failure(identifier):
            node = self.node(identifier)
            node.scroll_into_view_if_needed()
            self.settle()  # Flutter follows the scroll before it can take the tap
            node.click()

    def fill(self, identifier: str, text: str) -> None:
        """Types `text` into the field: a tap gives it Flutter's focus, then the text goes in;
        tried again if Flutter had not taken the field over yet and the text did not stay.

        The input can show the text a few frames late on a busy machine: it is waited for
        before another try, and a try empties the field first (select all, delete). A CI run
        found a field holding three copies, one typed into another, with the input reading
        empty after each."""
        with self.pictured_on_failure(identifier):
            box = self.node(identifier).locator("input, textarea").first
            for attempt in range(FILL_ATTEMPTS):
                box.scroll_into_view_if_needed()
                self.settle()
                box.click()
                with suppress(PlaywrightTimeoutError):  # then the text may not stay: again
                    self.page.wait_for_function(
                        "(element) => element === document.activeElement",
                        arg=box.element_handle(),
                        timeout=FOCUS_TIMEOUT_MS,
                    )
                if attempt:
                    box.press("ControlOrMeta+a")
                    box.press("Delete")
                box.fill(text)
                self.settle()
                with suppress(PlaywrightTimeoutError):
                    self.page.wait_for_function(
                        "([element, text]) => element.value === text",
                        arg=[box.element_handle(), text],
                        timeout=FOCUS_TIMEOUT_MS,
                    )
                if box.input_value() == text:
                    return
            raise AssertionError(f"{identifier} would not take {text!r}: {box.input_value()!r}")

    def choose(self, identifier: str, option: str) -> None:
        """Picks `option` in the drop-down `identifier`."""
        self.click(identifier)
        self.page.get_by_role("button", name=option, exact=True).last.click()

    def text(self, identifier: str) -> str:
        """What the node says: its text and the labels Flutter merged into it."""
        return str(self.page.evaluate(TEXT_OF, self._selector(identifier)))

    def expect_text(self, identifier: str, text: str) -> None:
        """Waits until the node says `text` (AssertionError with what it says instead)."""
        with self.pictured_on_failure(identifier):
            try:
                self.page.wait_for_function(
                    f"([selector, wanted]) => ({TEXT_OF})(selector).includes(wanted)",
                    arg=[self._selector(identifier), text],
                    timeout=STEP_TIMEOUT_MS,
                )
            except PlaywrightTimeoutError:
                raise AssertionError(
                    f"{identifier} never said {text!r}; it says {self.text(identifier)!r}"
                ) from None

    def screenshot(self, name: str) -> Path:
        """`<name>-<width>.png` once the picture holds still: Flutter paints off the main
        thread, a frame or more after the semantics tree has changed."""
        self.settle()
        path = self.artifacts / f"{name}-{self.page.viewport_size['width']}.png"
        picture = self.page.screenshot()
        for _ in range(SCREENSHOT_ATTEMPTS):
            self.page.wait_for_timeout(SCREENSHOT_PAUSE_MS)
            again = self.page.screenshot()
            if again == picture:
                break
            picture = again
        path.write_bytes(picture)
        return path

    def screenshots_at_both_widths(self, name: str) -> None:
        """`name` at the page's width and at the other (phone ↔ desktop), then back."""
        size = self.page.viewport_size
        other = DESKTOP if size == PHONE else PHONE
        self.screenshot(name)
        with self.resized(other):
            self.screenshot(name)

    @contextmanager
    def resized(self, size: dict[str, int]) -> Iterator[None]:
        """At `size` until the block ends, each change laid out by the app first."""
        before = self.page.viewport_size
        self.resize(size)
        try:
            yield
        finally:
            self.resize(before)

    def resize(self, size: Any) -> None:
        self.page.set_viewport_size(size)
        # The app names its frame by the layout in use (rail on a desktop, bar on a phone).
        layout = "layout-phone" if size["width"] < PHONE_MAX_WIDTH else "layout-desktop"
        self.node(layout).wait_for()
        self.settle()


class NetworkLog:
    """What crossed the wire, from Chrome's own network events (CDP): per response its url,
    status, encoding, whether the cache served it, bytes as sent and bytes decoded."""

    def __init__(self, page: Page) -> None:
        self.responses: dict[str, dict[str, Any]] = {}
        self.from_cache: set[str] = set()  # memory-cache hits are told apart from the response
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable")
        self.cdp.on("Network.requestServedFromCache", self._served_from_cache)
        self.cdp.on("Network.responseReceived", self._received)
        self.cdp.on("Network.dataReceived", self._data)
        self.cdp.on("Network.loadingFinished", self._finished)

    def _served_from_cache(self, event: dict[str, Any]) -> None:
        self.from_cache.add(event["requestId"])

    def _received(self, event: dict[str, Any]) -> None:
        response = event["response"]
        headers = {k.lower(): v for k, v in response["headers"].items()}
        self.responses[event["requestId"]] = {
            "url": response["url"],
            "status": response["status"],
            "encoding": headers.get("content-encoding"),
            "cached": bool(response.get("fromDiskCache") or response.get("fromMemoryCache")),
            "wire_bytes": 0,
            "body_bytes": 0,
        }

    def _data(self, event: dict[str, Any]) -> None:
        if event["requestId"] in self.responses:
            self.responses[event["requestId"]]["body_bytes"] += event["dataLength"]

    def _finished(self, event: dict[str, Any]) -> None:
        if event["requestId"] in self.responses:
            self.responses[event["requestId"]]["wire_bytes"] = event["encodedDataLength"]

    def close(self) -> list[dict[str, Any]]:
        self.cdp.detach()
        for request_id in self.from_cache & set(self.responses):
            self.responses[request_id]["cached"] = True
        return list(self.responses.values())


def measure_load(page: Page, base_url: str, reload: bool) -> tuple[float, list[dict[str, Any]]]:
    """Loads (or reloads) the app until the sign-in form is usable: the seconds that took and
    what crossed the wire (NetworkLog)."""
    log = NetworkLog(page)
    app = AppPage(page, Path(), "load")
    started = time.perf_counter()
    if reload:
        page.reload()
        placeholder = page.locator("flt-semantics-placeholder")
        placeholder.wait_for(state="attached")
        placeholder.dispatch_event("click")
        app.node("signin-email").wait_for()
    else:
        app.open(base_url, "signin-email")
    seconds = time.perf_counter() - started
    app.settle()
    return seconds, log.close()
