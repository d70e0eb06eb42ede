"""A real headless browser for the tests, and Kith served to it over HTTP.

The browser is Debian's ``chromium``, driven with Selenium through Debian's
``chromium-driver``: the two come from the same Debian source package at the same
version, so the driver always speaks the browser's protocol and nothing is downloaded
(docs/architecture.md#dashboards).  scripts/test installs both when they are missing and
it runs as root on Debian; without them a test that needs the browser fails under
CI=true and is skipped elsewhere, saying what is missing.

WebDriver calls block, and the Kith the browser talks to is served by uvicorn on the
test's own event loop (``serving``), so every browser call runs in a thread
(``asyncio.to_thread``) while the loop answers the page's requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 20.0  # seconds a page may take to reach a state before the test fails


def require_chromium() -> None:
    """Fail (CI) or skip (elsewhere), loudly, when Debian's chromium or its driver is missing."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if not missing:
        return
    reason = (
        f"{' and '.join(missing)} missing: the dashboards' browser tests need Debian's chromium and "
        "chromium-driver (apt-get install chromium chromium-driver; scripts/test does, as root)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


class Browser:
    """One headless Chromium; each method runs its WebDriver calls in a thread."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def open(self, url: str) -> None:
        await self.call(self.driver.get, url)

    async def script(self, source: str, *args: Any) -> Any:
        """``source`` run in the page (a function body: ``return …``)."""
        return await self.call(self.driver.execute_script, source, *args)

    async def wait_for(self, condition: str, what: str, seconds: float = WAIT) -> Any:
        """Until the JavaScript expression ``condition`` is truthy in the page; its value.
        Fails the test saying ``what`` was awaited, with the page's state and messages."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        def wait() -> Any:
            return WebDriverWait(self.driver, seconds, poll_frequency=0.05).until(
                lambda driver: driver.execute_script(f"return {condition};")
            )

        try:
            return await self.call(wait)
        except TimeoutException:
            state = await self.script("return [document.body.dataset.state, document.querySelector('main').innerText];")
            pytest.fail(f"the page did not reach {what!r} within {seconds} s (state {state[0]!r}):\n{state[1]}")

    async def fill(self, element_id: str, text: str) -> None:
        def fill() -> None:
            element = self.driver.find_element("id", element_id)
            element.clear()
            element.send_keys(text)

        await self.call(fill)

    async def click(self, selector: str) -> None:
        await self.call(lambda: self.driver.find_element("css selector", selector).click())

    async def element_png(self, selector: str) -> Any:
        """A screenshot of the element (scrolled into view) as a Pillow image."""
        from PIL import Image

        def shoot() -> bytes:
            element = self.driver.find_element("css selector", selector)
            # wholly in view: the driver would cut an element the viewport cuts
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
            png: bytes = element.screenshot_as_png
            return png

        png = await self.call(shoot)
        return Image.open(io.BytesIO(png)).convert("RGB")

    async def save_screenshot(self, path: Path) -> None:
        await self.call(self.driver.save_screenshot, str(path))


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium for as long as the block runs."""
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root in CI
        "--disable-dev-shm-usage",
        "--window-size=1280,1024",
        "--force-device-scale-factor=1",
        "--disable-extensions",
        "--no-first-run",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield Browser(driver)
    finally:
        driver.quit()


@contextlib.asynccontextmanager
async def serving(kith: Any) -> AsyncIterator[str]:
    """Kith's web app for ``kith`` on a free port of 127.0.0.1, on this event loop; its base URL."""
    import uvicorn

    from kith.core.web.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(kith=kith, run_worker=False), log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # the server failed to start: raise its error
                pytest.fail("the web app stopped before it started")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def drawn_pixels(image: Any, colour: tuple[int, int, int], tolerance: int = 40) -> int:
    """How many pixels of ``image`` are within ``tolerance`` of ``colour`` (on each channel)."""
    r0, g0, b0 = colour
    return sum(
        count
        for count, (r, g, b) in image.getcolors(image.width * image.height)
        if abs(r - r0) <= tolerance and abs(g - g0) <= tolerance and abs(b - b0) <= tolerance
    )


def inked_share(image: Any) -> float:
    """The share of ``image``'s pixels that are not (near) white: 0 for a blank canvas."""
    pale = sum(count for count, (r, g, b) in image.getcolors(image.width * image.height) if min(r, g, b) >= 245)
    return 1 - pale / (image.width * image.height)
