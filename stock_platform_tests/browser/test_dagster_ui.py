"""The user's path through the Dagster UI, in a real headless Chromium against the real `stock-platform dev` stack.

A user opens the UI and sees the three sensors running, an ingest run and a stream run in progress and the lineage
market -> trades -> daily_aggregates; then launches `daily_aggregates_reconcile` for today's partition from the
launchpad and watches the run succeed. Playwright drives Debian's `chromium` (installed by `make`): no browser is
ever downloaded. On failure the page's screenshot and the launcher's log land in test-artifacts/browser/.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect, sync_playwright

from stock_platform_tests.local.launcher import DevStack

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
# Root needs --no-sandbox; without the background-networking flags Chromium keeps dialling Google services,
# and this machine's closed network refuses those connections.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
SENSORS = ("finnhub_ingest_keeper", "stream_processor_keeper", "news_poller")
LONG_RUN_JOBS = ("finnhub_ingest", "stream_processor")
LINEAGE = {("market", "trades"), ("trades", "daily_aggregates")}
PAGE_TIMEOUT_MS = 60_000
# The keepers launch the long runs within a tick, but the stream run stays "Starting" while its process boots.
RUNS_TIMEOUT_MS = 240_000
# A Spark batch on 2 cores next to the streaming Spark session: under 3 min idle, 5 seen with a CI run alongside.
RECONCILE_TIMEOUT_MS = 600_000

# The asset graph is SVG: nodes are <foreignObject> boxes labelled by data-tooltip, edges are arrow paths that
# leave a node's right side and end just left of the next node. Returns [source, target] label pairs.
_LINEAGE_EDGES_JS = """() => {
  const nodes = [...document.querySelectorAll('foreignObject')].map(box => ({
    label: box.querySelector('[data-tooltip]')?.getAttribute('data-tooltip'),
    x: +box.getAttribute('x'), y: +box.getAttribute('y'), w: +box.getAttribute('width'), h: +box.getAttribute('height'),
  })).filter(node => node.label);
  const at = (x, y, side) => nodes.find(n =>
    Math.abs((side === 'right' ? n.x + n.w : n.x) - x) <= 12 && y >= n.y && y <= n.y + n.h);
  return [...document.querySelectorAll('path[marker-end]')].map(path => {
    const points = (path.getAttribute('d').match(/-?[0-9.]+/g) || []).map(Number);
    const source = at(points[0], points[1], 'right');
    const target = at(points[points.length - 2], points[points.length - 1], 'left');
    return [source?.label, target?.label];
  });
}"""
_HAS_EDGES_JS = f"expected => {{ const drawn = ({_LINEAGE_EDGES_JS})().map(edge => edge.join('>'));" \
    " return expected.every(edge => drawn.includes(edge)); }"


@pytest.fixture()
def dev_stack(tmp_path: Path) -> Iterator[DevStack]:
    stack = DevStack(tmp_path)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture()
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make` installs Debian's chromium (apt-get install chromium)"
    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh temporary profile (user-data-dir).
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    # A fresh Dagster instance greets a new browser with a "Join the Dagster community" dialog that covers the
    # page; this is the flag its "Skip" button stores.
    context.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
    # A slow 2-core machine, not a slow UI: the same patience for actions and for assertions (default 5 s).
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@contextmanager
def artifacts_on_failure(page: Page, stack: DevStack, folder: Path) -> Iterator[None]:
    """On failure keep what the browser showed and what the launcher logged, under `folder` and test-artifacts/."""
    try:
        yield
    except BaseException:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(folder / "failure.png"), full_page=True)
        except Exception as error:  # a dead browser must not hide the test's own failure
            (folder / "screenshot-error.txt").write_text(repr(error))
        if stack.log_path.exists():
            shutil.copyfile(stack.log_path, folder / "dev.log")
        shutil.copytree(folder, ARTIFACTS, dirs_exist_ok=True)
        raise


def nav(page: Page, section: str) -> None:
    """Click an entry of the left-hand navigation, as a user does."""
    page.get_by_role("navigation").get_by_role("link", name=section).click()


def link(page: Page, name: str) -> Locator:
    """The link named `name` among its icons' labels.

    Dagster's icons are labelled images inside the link: a job row reads "job x" until the row's own query
    loads the job's description, then "job x info"; asset links read "trades trades".
    """
    return page.get_by_role("link", name=re.compile(rf"(^|\s){re.escape(name)}( info)?$"))


def see_sensors_running(page: Page) -> None:
    nav(page, "Automation")
    for sensor in SENSORS:
        page.get_by_role("link", name=re.compile(rf"\b{sensor}\b")).click()
        expect(page).to_have_url(re.compile(rf"/sensors/{sensor}$"))
        # The sensor's page has a "Running" row whose switch is on while the daemon evaluates it.
        expect(page.get_by_role("row", name="Running").get_by_role("checkbox")).to_be_checked()
        page.go_back()


def see_long_runs_in_progress(page: Page) -> None:
    nav(page, "Runs")
    page.get_by_role("tab", name="In progress").click()
    for job in LONG_RUN_JOBS:
        # The runs table has no ARIA rows: a run's row is the nearest block around its job link with a "View" link.
        job_link = page.get_by_role("link", name=job, exact=True)
        rows = job_link.locator("xpath=ancestor::div[.//a[normalize-space()='View']][1]")
        expect(rows.filter(has_text="Started").first).to_be_visible(timeout=RUNS_TIMEOUT_MS)


def see_lineage(page: Page) -> None:
    nav(page, "Catalog")
    link(page, "trades").click()
    page.get_by_role("tab", name="Lineage").click()
    for label in ("market", "trades", "daily_aggregates"):
        expect(page.locator(f"foreignObject [data-tooltip='{label}']")).to_be_visible()
    try:
        page.wait_for_function(_HAS_EDGES_JS, arg=[f"{source}>{target}" for source, target in sorted(LINEAGE)])
    finally:
        edges = {tuple(edge) for edge in page.evaluate(_LINEAGE_EDGES_JS)}
    assert LINEAGE <= edges, f"lineage edges drawn: {sorted(edges)}"


def choose_partition(page: Page, launchpad: Locator, key: str) -> None:
    """Type `key` into the launchpad's partition field and pick the suggestion."""
    field = launchpad.get_by_role("combobox", name="Partition")
    suggestion = page.get_by_role("menuitem", name=key, exact=True)
    deadline = time.monotonic() + PAGE_TIMEOUT_MS / 1000
    # The launchpad redraws once the job's partition set and config have loaded, which blurs the field and
    # wipes what was typed; type again until the suggestion shows.
    while True:
        field.click()
        field.fill(key)
        try:
            suggestion.wait_for(timeout=5_000)
            break
        except PlaywrightTimeoutError:
            if time.monotonic() > deadline:
                raise
    suggestion.click()


def launch_reconcile_for_today(page: Page) -> str:
    """Job page -> launchpad (behind "Materialize all…") -> today's partition -> Materialize; returns the key."""
    today = datetime.now(timezone.utc).date().isoformat()  # trading_days partitions are UTC days
    nav(page, "Jobs")
    link(page, "daily_aggregates_reconcile").click()
    # An asset job's launchpad sits in the menu of the arrow next to "Materialize all…".
    page.get_by_role("button", name="Materialize all…").locator("xpath=following::button[1]").click()
    page.get_by_role("menuitem", name="Open launchpad").click()
    launchpad = page.get_by_role("dialog").filter(has_text="Launchpad")
    materialize = launchpad.get_by_role("button", name=re.compile(r"\bMaterialize$"))
    expect(materialize).to_be_visible()
    choose_partition(page, launchpad, today)
    # Choosing a partition reloads the run's tags; the partition tag shows the choice took.
    expect(launchpad).to_contain_text(f"partition: {today}")
    materialize.click()
    return today


def see_run_succeed(page: Page, partition: str) -> None:
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    expect(link(page, "daily_aggregates_reconcile").first).to_be_visible()
    expect(page.get_by_text(f"partition: {partition}").first).to_be_visible()
    # The run page follows the run live; wait for any final status so a failure is reported at once.
    final = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
    expect(final).to_be_visible(timeout=RECONCILE_TIMEOUT_MS)
    expect(final).to_have_text("Success")


def test_a_user_sees_the_pipeline_running_in_the_ui_and_reconciles_today_from_the_launchpad(dev_stack, page, tmp_path):
    with artifacts_on_failure(page, dev_stack, tmp_path / "browser-artifacts"):
        page.goto(f"http://127.0.0.1:{dev_stack.port}/")
        see_sensors_running(page)
        see_long_runs_in_progress(page)
        see_lineage(page)
        partition = launch_reconcile_for_today(page)
        see_run_succeed(page, partition)
