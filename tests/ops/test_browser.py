"""A real headless Chromium opens a person's graph and an explanation; screenshots go to artifacts/."""

from __future__ import annotations

from itertools import pairwise

import networkx as nx
from ops_support import Running

from app.ops.svg import render_graph
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


# Every text and box of the picture, measured by the browser, against the picture's frame.
OUTSIDE_THE_FRAME = """svg => {
  const frame = svg.viewBox.baseVal;
  return [...svg.querySelectorAll("text, rect")].map(el => [el.textContent, el.getBBox()]).filter(([, b]) =>
    b.x < frame.x || b.y < frame.y || b.x + b.width > frame.x + frame.width || b.y + b.height > frame.y + frame.height
  ).map(([text]) => text);
}"""


def sample_graph() -> nx.Graph[str]:
    """A customer on every channel with long keys and names: the labels reach far past their nodes."""
    graph: nx.Graph[str] = nx.Graph()
    for n, channel in enumerate(("telegram", "whatsapp", "avito", "webform", "telegram", "whatsapp")):
        key = f"{channel}:{'+7912345678' + str(n) if channel == 'whatsapp' else 'visitor-with-a-long-id-' + str(n)}"
        graph.add_node(key, kind="profile", channel=channel, name=f"Анна Смирнова-Петрова {n}", handle="")
        ident = f"email:anna.smirnova.petrova.{n}@example-company.ru"
        graph.add_node(ident, kind="identifier", shared=n == 3)
        graph.add_edge(key, ident, kind="identifier")
        graph.add_edge(key, "phone:+79123456789", kind="identifier")
    graph.nodes["phone:+79123456789"].update(kind="identifier", shared=False)
    keys = [k for k, d in graph.nodes(data=True) if d["kind"] == "profile"]
    for a, b in pairwise(keys):
        graph.add_edge(a, b, kind="evidence", score=14.2, evidence="same phone +7 912 ***-**-89; same name Анна")
    return graph


async def test_no_graph_label_is_cut_at_the_pictures_edge(running: Running, customer: str, office: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 1100})
        await page.set_content(render_graph(sample_graph()))
        assert await page.locator("svg").evaluate(OUTSIDE_THE_FRAME) == []
        for path in (f"/ops/persons/{customer}", f"/ops/persons/{office}", f"/ops/explain?a={office}&b=p_office4"):
            await page.goto(running.url(path))
            svg = page.locator("#graph svg")
            assert await svg.locator("text").count() >= 5
            assert await svg.evaluate(OUTSIDE_THE_FRAME) == [], path
            # The picture fits the page's width instead of spilling out of its card.
            card, picture = await page.locator("#graph").bounding_box(), await svg.bounding_box()
            assert card is not None and picture is not None and picture["width"] <= card["width"]
