"""The inbox in real headless Chromium (Debian's `chromium`, driven by Playwright) against the running demo."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from app.demo import ANNA_PHONE, BUSINESS_NUMBER, DEMO_PASSWORD, DEMO_USER, open_demo
from core.config import DEMO_STORE, Settings
from core.inbox import Role
from inbox.conftest import PASSWORD, USERS, Demo
from tests.browser import SCREENSHOTS, chromium


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def login(page: Page, demo: Demo, name: str) -> None:
    await page.goto(demo.base + "/inbox/")
    await expect(page).to_have_url(re.compile(r"/inbox/login"))
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    await expect(page.locator("h1")).to_have_text("Inbox")


async def whatsapp_from_anna(demo: Demo, text: str) -> None:
    twilio = demo.run.twilio
    path = "/webhooks/whatsapp"
    fields = twilio.inbound_fields(wa_id=ANNA_PHONE, body=text, profile_name="Anna", to=BUSINESS_NUMBER)
    delivery = await twilio.post_inbound(demo.base + path, demo.run.settings.public_url + path, fields)
    assert delivery.status == 200
    await demo.run.settle()


async def test_a_supervisor_works_the_five_channel_customer(demo: Demo, browser: Browser) -> None:
    context = await browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB")
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        await login(page, demo, "sue")
        row = page.locator(f'tr[data-person="{demo.anna}"]')
        await expect(row.locator(".badge")).to_have_count(5)
        await expect(page.locator("tr[data-person] .timer").first).to_be_visible()
        await shot(page, "01-inbox-list")

        # Search by phone finds her.
        await page.fill('input[name="q"]', "+7 912 345-67-89")
        await page.click("form.search button")
        await expect(page.locator("tr[data-person]")).to_have_count(1)

        # The person created from five channels, and why she is one person.
        await page.click(f'a[href="/inbox/persons/{demo.anna}"]')
        why = page.locator(".why .evidence li")
        await expect(why.first).to_have_text(
            "certain WhatsApp +7 912 ***-**-89 is the phone Telegram confirmed; same name Anna"
        )
        await expect(why).to_have_count(4)
        await expect(why.first.locator(".bar i.on")).to_have_count(4)
        timeline = page.locator("#timeline")
        for badge in ("TG", "WA", "MX", "AV", "WEB"):
            await expect(timeline.locator(".badge", has_text=badge).first).to_be_visible()
        await expect(page.locator(".window.open")).to_contain_text("WhatsApp 24-hour window open")
        await expect(page.locator('select[name="channel"] option[value="webform"]')).to_be_disabled()
        await expect(page.locator("form.reply")).to_contain_text(
            "The web form: no reply goes back through it; call or e-mail the customer."
        )
        # Channels and merges in words: no store keys, no weightless "different channels".
        # A lead is named by its channel and day, the person by name; their ids stay small, to copy.
        lead = page.locator(".lead").first
        await expect(lead.locator(".title")).to_have_text(
            re.compile(r"^Inquiry on (Telegram|WhatsApp), \d{1,2} [A-Z][a-z]{2} \d\d:\d\d$")
        )
        await expect(lead.locator(".id")).to_have_text(re.compile(r"^l_\w+$"))
        await expect(page.locator("header.person .id")).to_have_text(demo.anna)
        await expect(page.locator("header.person .muted")).not_to_contain_text(demo.anna)
        merges = page.locator(".merges li")
        await expect(merges.first).to_contain_text("merged automatically: ")
        await expect(page.locator(".merges")).not_to_contain_text("different channels")
        await shot(page, "02-person")

        # Reply on WhatsApp: it reaches the Twilio fake and shows its delivery state.
        first_time = timeline.locator("time").first
        shown_before = await first_time.text_content()
        await page.select_option('select[name="channel"]', "whatsapp")
        await page.fill('textarea[name="text"]', "Анна, iPhone 13 ждёт вас в магазине")
        await page.click("form.reply button[type=submit]")
        reply = timeline.locator(".msg.out", has_text="ждёт вас в магазине")
        await expect(reply.locator(".status")).to_have_text("sent")
        assert demo.run.twilio.messages[-1].body == "Анна, iPhone 13 ждёт вас в магазине"
        # The refreshed timeline words its dates as the page did, and the channel stays chosen.
        await expect(first_time).to_have_text(shown_before or "")
        await expect(reply.locator("time")).not_to_have_text(re.compile(r"^\d{4}-\d\d-\d\d "))
        assert await page.input_value('select[name="channel"]') == "whatsapp"
        await expect(page.locator('textarea[name="text"]')).to_have_value("")

        # A new message appears live, without reloading.
        await whatsapp_from_anna(demo, "Спасибо, приеду завтра")
        await expect(timeline.locator(".msg.in", has_text="приеду завтра")).to_be_visible()

        # Convert her lead: Deal + Contact, required fields first.
        await page.click("details.convert summary")
        convert = page.locator("details.convert form")
        await convert.locator('input[name="title"]').fill("")
        await convert.locator("button[type=submit]").click()
        await expect(convert.locator(".error")).to_contain_text("give the deal a title")
        await convert.locator('input[name="title"]').fill("iPhone 13 128 GB")
        await convert.locator('input[name="contact_phone"]').fill("+7 912 345-67-89")
        await convert.locator("button[type=submit]").click()
        deal = page.locator(".deal")
        await expect(deal).to_contain_text("iPhone 13 128 GB")
        await deal.locator("button", has_text="Won").click()
        await expect(deal.locator(".stage")).to_have_text("won")

        # She comes back: a repeat lead, and its deal is a repeat deal.
        await whatsapp_from_anna(demo, "А чехол к нему есть?")
        await page.reload()
        await expect(page.locator(".lead .flag.repeat_lead").first).to_be_visible()
        await page.click("details.convert summary")
        await page.locator('details.convert input[value="deal_only"]').check()
        await page.locator('details.convert input[name="title"]').fill("Case")
        await page.locator("details.convert button[type=submit]").click()
        await expect(page.locator(".deal", has_text="Case").locator(".flag.repeat_deal")).to_be_visible()
        await shot(page, "03-person-lead-deals")

        await page.goto(demo.base + "/inbox/?flag=repeat_deal")
        await expect(page.locator(f'tr[data-person="{demo.anna}"] .flag.repeat_deal')).to_be_visible()
        await expect(page.locator("tr[data-person]")).to_have_count(1)
        await shot(page, "04-inbox-repeat-deals")
    finally:
        await context.close()


async def test_a_reviewer_merges_a_suggestion_and_splits_it_again(demo: Demo, browser: Browser) -> None:
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        await login(page, demo, "sue")
        await page.goto(demo.base + "/inbox/review")
        office = "same phone +7 495 ***-**-67"  # the namesake minutes after Anna may wait for review too
        card = page.locator("form.suggestion", has_text=office)
        await expect(card.locator(".why")).to_contain_text("under 1% likely the same person")
        await expect(card.locator(".side")).to_have_count(2)
        await shot(page, "05-review-queue")
        primary = await card.locator('input[name="primary"]').nth(1).get_attribute("value")
        await card.locator('input[name="primary"]').nth(1).check()
        await card.locator("button[type=submit]").click()
        await expect(page.locator("form.suggestion", has_text=office)).to_have_count(0)

        await page.goto(f"{demo.base}/inbox/persons/{primary}")
        merge = page.locator(".merges li", has_text="merged by sue")
        await expect(merge).to_be_visible()
        await expect(page.locator(".profiles li")).to_have_count(2)
        await merge.locator("button", has_text="Split").click()
        await expect(page.locator(".merges li", has_text="merged by sue")).to_contain_text("split")
        await expect(page.locator(".profiles li")).to_have_count(1)

        # The audit log reads as sentences with names linked to the persons; the ids stay in the tooltip.
        await page.goto(demo.base + "/inbox/audit")
        latest, merged = page.locator("ol.audit li").nth(0), page.locator("ol.audit li").nth(1)
        await expect(latest).to_contain_text(re.compile(r"^sue \(supervisor\) split .+'s web form off .+ — "))
        await expect(merged).to_contain_text(re.compile(r"^sue \(supervisor\) merged .+'s web form into .+ — "))
        await expect(merged.locator(f'a[href="/inbox/persons/{primary}"]')).to_have_attribute("title", str(primary))
        assert re.search(r"accept · p_\w+ · m_\w+", await merged.get_attribute("title") or "")
        await expect(latest.locator("time")).not_to_have_text(re.compile(r"^\d{4}-\d\d-\d\d "))
        await shot(page, "06-audit-log")
    finally:
        await context.close()


async def test_a_manager_cannot_merge_and_login_failures_are_shown(demo: Demo, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(demo.base + "/inbox/login")
        await page.fill('input[name="name"]', "mia")
        await page.fill('input[name="password"]', "not-the-password")
        await page.click('button[type="submit"]')
        await expect(page.locator(".error")).to_have_text("Wrong name or password.")
        await shot(page, "00-login")
        await login(page, demo, "mia")
        await page.goto(demo.base + "/inbox/review")
        await expect(page.locator("form.suggestion").first).to_contain_text("Only reviewers may merge.")
    finally:
        await context.close()


async def test_a_newcomer_goes_from_the_root_through_the_login_to_the_demo_customer(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo's own store, stitch-demo.db, with its printed login
    run = await open_demo(Settings.from_env({"STITCH_STORE": DEMO_STORE}), host="127.0.0.1", port=0)
    context = await browser.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB")
    page = await context.new_page()
    try:
        printed = capsys.readouterr().out
        anna_page = next(line.split()[-1] for line in printed.splitlines() if line.startswith("Anna's page:"))
        await page.goto(run.base_url + "/")
        await expect(page).to_have_url(re.compile(r"/inbox/login\?next="))
        await page.fill('input[name="name"]', DEMO_USER)
        await page.fill('input[name="password"]', DEMO_PASSWORD)
        await page.click('button[type="submit"]')
        await expect(page.locator("h1")).to_have_text("Inbox")
        anna = anna_page.rsplit("/", 1)[-1]
        await page.click(f'a[href="/inbox/persons/{anna}"]')
        await expect(page).to_have_url(anna_page)
        await expect(page.locator(".why .evidence")).to_contain_text("is the phone")
        await shot(page, "10-newcomer-demo-customer")
        # The story's reply was the printed login's: the audit log opens with it, her name linked.
        await page.click('nav a[href="/inbox/audit"]')
        entry = page.locator("ol.audit li").first
        await expect(entry).to_contain_text("demo (supervisor) replied to Анна Смирнова on Avito (sent)")
        await expect(entry.locator(f'a[href="/inbox/persons/{anna}"]')).to_be_visible()

        # The printed ops address: the supervisor may not open it, the printed ops login may.
        ops_url = printed_value(printed, "Ops pages:")
        await page.goto(ops_url)
        await expect(page.locator("h1")).to_have_text("Not allowed")
        await context.clear_cookies()
        await page.goto(ops_url)
        await expect(page).to_have_url(re.compile(r"/inbox/login\?next=/ops/$"))
        name, password = printed_value(printed, "Ops login:").split(" (")[0].split(" / ")
        await page.fill('input[name="name"]', name)
        await page.fill('input[name="password"]', password)
        await page.click('button[type="submit"]')
        await expect(page).to_have_url(ops_url)
        await expect(page.locator("header b")).to_have_text("Stitch ops")
        await page.click('header a[href="/ops/merges"]')
        await expect(page.locator("table")).to_contain_text(anna)
        await shot(page, "11-newcomer-ops")
    finally:
        await context.close()
        await run.close()


def printed_value(printed: str, label: str) -> str:
    """What the demo printed after a label, such as "Ops login:"."""
    return next(line.removeprefix(label).strip() for line in printed.splitlines() if line.startswith(label))


PHONE = {"width": 390, "height": 844}  # an iPhone's screen
DESKTOP = {"width": 1360, "height": 900}


async def log_in_as(page: Page, demo: Demo, name: str) -> None:
    await page.goto(demo.base + "/inbox/login")
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    # An operator sees no customers: the inbox sends them on to the ops pages.
    if USERS[name] is Role.OPS:
        await expect(page.locator("header b")).to_have_text("Stitch ops")
    else:
        await expect(page.locator("nav .who")).to_contain_text(name)


# The placeholders that do not fit their text box, measured in the box's own font.
CLIPPED_PLACEHOLDERS = """() => {
  const pen = document.createElement("canvas").getContext("2d");
  return [...document.querySelectorAll("input[placeholder]")].filter(box => box.offsetParent).filter(box => {
    const style = getComputedStyle(box);
    pen.font = style.font;
    const room = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return pen.measureText(box.placeholder).width > room;
  }).map(box => box.placeholder);
}"""


async def assert_fits(page: Page, width: int, what: str) -> None:
    """Nothing sticks out sideways, every link and button of the top bar is on the screen, and every
    text box shows its placeholder whole."""
    assert await page.evaluate("document.documentElement.scrollWidth") <= width, what
    assert await page.evaluate(CLIPPED_PLACEHOLDERS) == [], what
    for item in await page.locator("nav a, nav button, header a").all():
        box = await item.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (what, await item.text_content())


async def test_every_page_fits_a_phone_and_a_desktop(demo: Demo, browser: Browser, tmp_path: Path) -> None:
    merge = (await demo.store.merges(limit=1))[0]
    inbox = {
        "list": "/inbox/",
        "person": f"/inbox/persons/{demo.anna}",
        "review": "/inbox/review",
        "audit": "/inbox/audit",
    }
    ops = {
        "overview": "/ops/",
        "graph": f"/ops/persons/{demo.anna}",
        "explain": f"/ops/explain?a={merge.into}&b={merge.from_}",
        "merges": "/ops/merges",
        "shared": "/ops/shared",
        "review": "/ops/review",
        "failures": "/ops/failures",
        "sizes": "/ops/sizes",
    }
    for size, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        context = await browser.new_context(viewport=viewport, locale="en-GB")  # type: ignore[arg-type]
        page = await context.new_page()
        try:
            await page.goto(demo.base + "/inbox/login")
            await assert_fits(page, viewport["width"], "login")
            await page.screenshot(path=str(tmp_path / f"{size}-login.png"), full_page=True)
            await log_in_as(page, demo, "sue")
            for name, path in inbox.items():
                await page.goto(demo.base + path)
                await expect(page.locator("nav button", has_text="Log out")).to_be_visible()
                await assert_fits(page, viewport["width"], path)
                await page.screenshot(path=str(tmp_path / f"{size}-inbox-{name}.png"), full_page=True)
                if name in ("person", "review"):  # the explanations, kept to look at
                    await shot(page, f"{size}-{name}")
            await context.clear_cookies()
            await log_in_as(page, demo, "otto")  # the ops role
            for name, path in ops.items():
                await page.goto(demo.base + path)
                await expect(page.locator("header a").first).to_be_visible()
                await assert_fits(page, viewport["width"], path)
                await page.screenshot(path=str(tmp_path / f"{size}-ops-{name}.png"), full_page=True)
        finally:
            await context.close()
    assert len(list(tmp_path.glob("*.png"))) == 2 * (1 + len(inbox) + len(ops))


# Masked phones and e-mails in the page's text outside an element that keeps them on one line, and the
# kept ones the browser broke across lines all the same.
BROKEN_IDENTIFIERS = """() => {
  const masked = /\\+\\d \\d{3} \\*{3}-\\*{2}-\\d{2}|\\S\\*{3}@[\\w.-]*\\w/g;
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const loose = [];
  while (walk.nextNode()) {
    const node = walk.currentNode;
    if (!node.parentElement.closest(".ident")) loose.push(...(node.textContent.match(masked) || []));
  }
  const kept = [...document.querySelectorAll(".ident")];
  const broken = kept.filter(el => el.getClientRects().length > 1).map(el => el.textContent);
  return { kept: kept.length, loose, broken };
}"""


async def test_masked_contacts_never_break_across_lines_on_a_phone(demo: Demo, browser: Browser) -> None:
    context = await browser.new_context(viewport=PHONE, locale="en-GB")  # type: ignore[arg-type]
    page = await context.new_page()
    try:
        await log_in_as(page, demo, "sue")
        # A phone added by hand: the audit log names it, masked.
        await page.goto(f"{demo.base}/inbox/persons/{demo.anna}")
        add = page.locator('form[data-api$="/identifiers"]')
        await add.locator('input[name="value"]').fill("+7 999 123-45-67")
        await add.locator("button").click()
        await expect(page.locator(".profiles")).to_contain_text("+7 999 ***-**-67")
        for path in (f"/inbox/persons/{demo.anna}", "/inbox/review", "/inbox/audit"):
            await page.goto(demo.base + path)
            found = await page.evaluate(BROKEN_IDENTIFIERS)
            assert found["loose"] == [] and found["broken"] == [], path
            assert found["kept"] > 0, path
        await shot(page, "phone-audit")
    finally:
        await context.close()


async def test_no_page_fails_to_load_anything(demo: Demo, browser: Browser) -> None:
    """The browser's console stays clean: no 404 for an icon, a style sheet or a script."""
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("response", lambda response: errors.append(response.url) if response.status >= 400 else None)
    try:
        await page.goto(demo.base + "/inbox/login")
        await log_in_as(page, demo, "ada")  # an admin: the inbox and the ops pages
        for path in ("/inbox/", f"/inbox/persons/{demo.anna}", "/inbox/review", "/inbox/audit", "/ops/"):
            await page.goto(demo.base + path)
            await page.wait_for_load_state("networkidle")
            icon = await page.evaluate("""() => document.querySelector('link[rel="icon"]')?.href""")
            assert icon == demo.base + "/inbox/static/icon.svg", path
        assert errors == []
    finally:
        await context.close()


# The profiles' names and keys on the graph that an edge's label covers, as the browser lays them out.
COVERED_NAMES = """svg => {
  const boxes = sel => [...svg.querySelectorAll(sel)].map(el => [el.textContent, el.getBBox()]);
  const meet = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  const labels = boxes("g.edge-label rect");
  return boxes("g.node.profile text").filter(([, t]) => labels.some(([, l]) => meet(t, l))).map(([text]) => text);
}"""


async def test_an_operator_reads_links_in_the_inbox_words(demo: Demo, browser: Browser) -> None:
    context = await browser.new_context(viewport=DESKTOP, locale="en-GB")  # type: ignore[arg-type]
    page = await context.new_page()
    try:
        await page.goto(demo.base + "/ops")
        await expect(page).to_have_url(re.compile(r"/inbox/login\?next=/ops/$"))
        await page.fill('input[name="name"]', "otto")
        await page.fill('input[name="password"]', PASSWORD)
        await page.click('button[type="submit"]')
        await expect(page.locator("header b")).to_have_text("Stitch ops")

        # The graph labels a link with its strength in words, and no label hides a profile's name.
        await page.goto(f"{demo.base}/ops/persons/{demo.anna}")
        label = page.locator("#graph g.edge-label").first
        await expect(label.locator("text")).to_have_text(re.compile(r"^strong: the same subject in other words"))
        await expect(label.locator("title")).to_have_text(re.compile(r"^strong \(\d\d% likely the same person\): "))
        assert await page.locator("#graph svg").evaluate(COVERED_NAMES) == []
        await shot(page, "12-ops-graph")

        # The review backlog shows each suggestion's match probability beside its strength word.
        await page.goto(demo.base + "/ops/review")
        namesake = page.locator("tr", has_text="same name Anna Smirnova")
        await expect(namesake.locator("td").nth(2)).to_have_text(re.compile(r"^\d\d% likely$"))
        office = page.locator("tr", has_text="+7 495 ***-**-67")
        await expect(office.locator("td").nth(2)).to_have_text("under 1% weak")
        await shot(page, "13-ops-review")
    finally:
        await context.close()


async def test_the_root_leads_each_role_to_its_pages(demo: Demo, browser: Browser) -> None:
    for name, landing in (("otto", "/ops/"), ("ada", "/inbox/")):
        context = await browser.new_context(viewport=PHONE, locale="en-GB")  # type: ignore[arg-type]
        page = await context.new_page()
        try:
            await page.goto(demo.base + "/")
            await page.fill('input[name="name"]', name)
            await page.fill('input[name="password"]', PASSWORD)
            await page.click('button[type="submit"]')
            await expect(page).to_have_url(demo.base + landing)
            if name == "ada":  # an admin works with customers and may open the ops pages from the top bar
                await assert_fits(page, PHONE["width"], "an admin's top bar")
                await page.click('nav a[href="/ops/"]')
                await expect(page.locator("header b")).to_have_text("Stitch ops")
        finally:
            await context.close()
