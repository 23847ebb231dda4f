"""A real headless Chromium opens a person's graph and an explanation; screenshots go to artifacts/."""

from __future__ import annotations

from ops_support import Running

from tests.browser import SCREENSHOTS, chromium


async def test_graph_and_explanation_in_a_browser(running: Running, customer: str, office: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 1100})
        await page.goto(running.url(f"/ops/persons/{customer}"))
        assert await page.locator("#graph svg g.node.profile").count() == 4
        assert await page.locator("#graph svg line.edge.evidence").count() >= 3
        await page.screenshot(path=str(SCREENSHOTS / "ops-person-graph.png"), full_page=True)

        await page.select_option("select[name=a]", "telegram:5651074222")
        await page.select_option("select[name=b]", index=3)
        await page.click("text=Explain")
        await page.wait_for_selector("#steps li")
        assert await page.locator("#steps li").count() >= 1
        assert await page.locator('#graph svg line[stroke="#1b4fd8"]').count() >= 1
        await page.screenshot(path=str(SCREENSHOTS / "ops-explanation.png"), full_page=True)

        await page.goto(running.url(f"/ops/persons/{office}"))
        assert await page.locator("[role=alert]").count() == 1
        await page.screenshot(path=str(SCREENSHOTS / "ops-over-merge.png"), full_page=True)

        await page.goto(running.url("/ops/merges"))
        await page.locator("button[data-merge]").first.click()
        await page.wait_for_selector("text=both sides have their profiles back")
        await page.screenshot(path=str(SCREENSHOTS / "ops-merges-after-split.png"), full_page=True)
    assert (SCREENSHOTS / "ops-person-graph.png").stat().st_size > 10_000
