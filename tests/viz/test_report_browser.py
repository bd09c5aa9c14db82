"""The report opened in a real headless browser (Debian's chromium driven by Playwright).

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``); Playwright's own browser
downloads are never used. Skips with the reason when either is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from toolkit.snapshot import Snapshot
from toolkit.viz import write_report

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: True once every plotly div on the page has been drawn (plotly adds the class and the SVG).
ALL_DRAWN = """() => {
  const divs = [...document.querySelectorAll('.plotly-graph-div')];
  return divs.length > 0 && divs.every(d => d.classList.contains('js-plotly-plot')
                                           && d.querySelector('svg.main-svg'));
}"""

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists() and not shutil.which("chromium"),
                       reason="Debian chromium not installed at /usr/bin/chromium "
                              "(apt-get install -y chromium)"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as play:
        chrome = play.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chrome
        chrome.close()


def open_report(browser, path: Path) -> tuple[object, list[str], list[str]]:
    """Load ``path``; return the page, console errors (and page errors), and dialogs seen."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.route("**/*", lambda route: route.abort()
               if not route.request.url.startswith("file:") else route.continue_())
    page.goto(path.as_uri(), timeout=120_000)
    page.wait_for_function(ALL_DRAWN, timeout=120_000)
    page.wait_for_timeout(300)
    return page, errors, dialogs


@pytest.fixture(scope="module")
def loaded(browser, tmp_path_factory, hostile_snapshot: Snapshot):
    """The report of the snapshot whose names carry HTML/script payloads, opened once."""
    path = write_report(hostile_snapshot, tmp_path_factory.mktemp("report") / "report.html")
    page, errors, dialogs = open_report(browser, path)
    yield page, errors, dialogs
    page.close()


def test_report_renders_sections_and_charts(loaded) -> None:
    page, errors, dialogs = loaded
    titles = page.locator("section h2").all_inner_texts()
    for title in ("Summary", "Coverage", "Namespaces", "Namespace × namespace",
                  "Workload → service", "Cross-namespace flows", "Traffic over time",
                  "Candidate segment boundaries", "Policy findings"):
        assert title in titles
    plots = page.locator(".js-plotly-plot")
    assert plots.count() >= 6
    for i in range(plots.count()):  # every chart drew its SVG
        assert plots.nth(i).locator("svg.main-svg").count() >= 1
    assert page.locator(".js-plotly-plot .hm image").count() >= 2  # heatmaps painted
    assert page.locator(".js-plotly-plot .sankey-link").count() >= 1
    assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 3
    assert errors == [] and dialogs == []


def test_hostile_names_do_not_run_and_show_escaped(loaded, xss: dict[str, str]) -> None:
    page, errors, dialogs = loaded
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    assert errors == []  # not even a blocked inline script: nothing was injected
    assert xss["ns_label"] in page.inner_text("#inventory")  # literal text in the table
    assert "hostile<b>" in page.inner_text("header h1")
    ticks = page.locator(".js-plotly-plot .ytick text").all_text_contents()
    assert any(xss["workload"] in t for t in ticks)  # plotly shows the name literally
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("svg[onload]").count() == 0
