"""The dashboard in a real browser: Debian's chromium, driven by playwright, against the
`kafka-sync local` that tests/dashboard.rs started. It enters the token, creates records
on the source, watches the task's lag fall to 0, pauses and resumes it, changes its
on_error, runs the processing workbench (with a generated regex), and saves a screenshot.
Everything it needs comes in KSYNC_* variables from the Rust test."""

import json
import os

from confluent_kafka import Producer
from playwright.sync_api import expect, sync_playwright

ENV = os.environ
RECORDS = 500
# The page polls every 2 s; a copy of 500 records takes a few polls.
WAIT_MS = 60_000


def create_records():
    producer = Producer({"bootstrap.servers": ENV["KSYNC_SOURCE_BOOTSTRAP"]})
    for i in range(RECORDS):
        value = json.dumps({"order": i, "status": "paid"})
        producer.produce(ENV["KSYNC_SOURCE_TOPIC"], key=f"k{i}", value=value)
    assert producer.flush(30) == 0, "records left unsent"


def select_text(page, selector, text):
    """Selects `text` in an input, as a user marking part of the sample does."""
    value = page.input_value(selector)
    start = value.index(text)
    page.eval_on_selector(
        selector, "(el, [s, e]) => el.setSelectionRange(s, e)", [start, start + len(text)]
    )


def watch_the_copy(page):
    page.fill("#token", ENV["KSYNC_TOKEN"])
    page.click("#connect")
    row = page.locator("tr.task", has_text=ENV["KSYNC_TASK_NAME"])
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#status")).to_contain_text("Connected")
    create_records()
    expect(row.locator(".copied")).to_have_text(str(RECORDS), timeout=WAIT_MS)
    expect(row.locator(".lag")).to_have_text("0", timeout=WAIT_MS)
    row.click()
    lags = page.locator("#partitions .partition-lag")
    expect(lags).to_have_count(2)
    expect(lags.nth(0)).to_have_text("0")
    expect(lags.nth(1)).to_have_text("0")
    return row


def pause_resume_and_change_on_error(page, row):
    row.locator("button.pause").click()
    expect(row.locator(".state")).to_have_text("paused", timeout=WAIT_MS)
    row.locator("button.resume").click()
    expect(row.locator(".state")).to_have_text("running", timeout=WAIT_MS)
    row.locator("select.on-error").select_option("discard")
    expect(row.locator("select.on-error")).to_have_value("discard", timeout=WAIT_MS)
    expect(page.locator("#events li").first).to_contain_text("state", timeout=WAIT_MS)


def run_the_workbench(page):
    page.fill("#samples", '{"order": 7, "status": "paid"}\nnot json')
    page.select_option("#mode", "json")
    page.click("#run")
    results = page.locator("#results li")
    expect(results).to_have_count(2)
    expect(results.nth(0)).to_have_class("result-ok")
    expect(results.nth(0)).to_contain_text('"order":7')
    expect(results.nth(1)).to_have_class("result-error")

    sample = "GET /orders/7 200 12ms"
    page.fill("#regex-sample", sample)
    for name, text in [("path", "/orders/7"), ("status", "200")]:
        select_text(page, "#regex-sample", text)
        page.fill("#part-name", name)
        page.click("#add-part")
    expect(page.locator("#parts li")).to_have_count(2)
    page.click("#generate")
    expect(page.locator("#pattern")).to_contain_text("(?P<path>")
    page.fill("#samples", f"{sample}\nGET /a/b 404 1530ms\nnot a request")
    page.click("#use-pattern")
    expect(page.locator("#mode")).to_have_value("regex")
    expect(results).to_have_count(3)
    expect(results.nth(0)).to_contain_text('"path":"/orders/7"')
    expect(results.nth(1)).to_contain_text('"status":"404"')
    expect(results.nth(2)).to_have_class("result-error")


def main():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=ENV.get("KSYNC_CHROMIUM", "/usr/bin/chromium"),
            args=["--no-sandbox"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        problems = []
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
        )
        page.goto(ENV["KSYNC_BASE"] + "/")
        row = watch_the_copy(page)
        pause_resume_and_change_on_error(page, row)
        run_the_workbench(page)
        # Let the throughput chart and the events catch up with the last poll.
        page.wait_for_timeout(2500)
        page.screenshot(path=ENV["KSYNC_SCREENSHOT"], full_page=True)
        browser.close()
        assert not problems, problems
    print("dashboard: every step passed; screenshot at", ENV["KSYNC_SCREENSHOT"])


if __name__ == "__main__":
    main()
