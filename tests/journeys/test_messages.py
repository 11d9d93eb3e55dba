"""Message rendering: HTML escaped, text not, links tracked with the recommendation id, the
shop's overrides, offers only past their threshold."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shopwise.catalog import Product
from shopwise.decide import ContentSet
from shopwise.journeys import Composer, Recommended, Templates, TriggerConfig, offer_of, tracked
from shopwise.profiles import ProfileState

NOW = int(datetime(2026, 1, 5, 12, tzinfo=UTC).timestamp() * 1000)
EVIL = '<script>alert("x")</script> & Co'


def product(pid: str, title: str, **fields: Any) -> Product:
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    values: dict[str, Any] = {
        "id": pid,
        "title": title,
        "description": "",
        "category": ["Home"],
        "brand": None,
        "price": 20.0,
        "sale_price": None,
        "currency": "EUR",
        "stock": None,
        "available": True,
        "tags": [],
        "image_url": None,
        "attributes": {},
        "created_at": stamp,
        "updated_at": stamp,
    }
    return Product(**{**values, **fields})


CATALOG = {
    "sku-1": product("sku-1", EVIL, sale_price=15.5),
    "sku-2": product("sku-2", "Mug", attributes={"url": "https://shop.example/p/mug?color=red"}),
    "sku-3": product("sku-3", "Saucer"),
}


class FakePersonalizer:
    def __init__(self) -> None:
        self.asked: list[tuple[str, tuple[str, ...], int]] = []

    def recommend(self, profile_id: str, cart: Sequence[str], n: int) -> Recommended | None:
        self.asked.append((profile_id, tuple(cart), n))
        return Recommended("0190abcdef01" + "a" * 20, ("sku-1", "sku-2", "unknown"))

    def complementary(self, product_id: str, n: int) -> Recommended | None:
        return Recommended("0190abcdef01" + "b" * 20, ("sku-3",))


CONTENT = ContentSet.model_validate(
    {
        "blocks": [
            {
                "name": "ten-off",
                "kind": "banner",
                "threshold": {"score": "purchase_7d", "min": 0.8},
                "content": {"title": "10% off", "code": "TEN"},
            }
        ]
    }
)


def composer(personalizer: FakePersonalizer | None = None) -> Composer:
    return Composer(
        lambda: CATALOG,
        personalizer or FakePersonalizer(),
        lambda: CONTENT,
        "https://shop.example",
    )


def cart_trigger(**fields: Any) -> TriggerConfig:
    values: dict[str, Any] = {
        "name": "cart_abandonment",
        "kind": "cart_abandonment",
        "subject": "{{ first_name }}, you left {{ items|length }} item(s) & more",
        "heading": "Still thinking?",
        "recommendations": 3,
        "complementary": 2,
        "offer": "ten-off",
    }
    return TriggerConfig.model_validate({**values, **fields})


def context(
    trigger: TriggerConfig, scores: Mapping[str, float], first_name: str | None = EVIL
) -> dict[str, Any]:
    return composer().context(trigger, "p-1", ProfileState(), ["sku-1"], first_name, scores, NOW)


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_context_items_recommendations_and_tracked_links() -> None:
    personalizer = FakePersonalizer()
    made = composer(personalizer).context(
        cart_trigger(), "p-1", ProfileState(), ["sku-1"], "Ann", {}, NOW
    )
    assert personalizer.asked == [("p-1", ("sku-1",), 3)]
    rid = made["recommendation_id"]
    assert rid == "0190abcdef01" + "a" * 20
    assert [i["product_id"] for i in made["items"]] == ["sku-1"]
    assert made["items"][0]["price"] == "15.50"
    # the cart's own product and unknown ids are left out of the recommendations
    assert [i["product_id"] for i in made["recommendations"]] == ["sku-2"]
    assert [i["product_id"] for i in made["complementary"]] == ["sku-3"]
    for item in made["items"] + made["recommendations"] + made["complementary"]:
        params = query(item["url"])
        assert params["recommendation_id"] == [rid]
        assert params["utm_source"] == ["shopwise"]
        assert params["utm_medium"] == ["email"]
        assert params["utm_campaign"] == ["cart_abandonment"]
    assert made["items"][0]["url"].startswith("https://shop.example/products/sku-1?")
    mug = made["recommendations"][0]["url"]
    assert mug.startswith("https://shop.example/p/mug?") and query(mug)["color"] == ["red"]
    assert query(made["links"]["shop"])["recommendation_id"] == [rid]
    assert made["person"] == {"traits": {"first_name": "Ann"}}


def test_the_offer_needs_its_threshold() -> None:
    assert context(cart_trigger(), {"purchase_7d": 0.5})["offer"] is None
    assert context(cart_trigger(), {})["offer"] is None
    offer = context(cart_trigger(), {"purchase_7d": 0.9})["offer"]
    assert offer == {"name": "ten-off", "title": "10% off", "code": "TEN"}
    assert offer_of(CONTENT, "no-such-block", ProfileState(), {"purchase_7d": 1.0}, NOW) is None


def test_html_is_escaped_text_and_subject_are_not() -> None:
    trigger = cart_trigger()
    rendered = Templates().render(trigger, context(trigger, {"purchase_7d": 0.9}))
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in rendered.html
    assert EVIL in rendered.text
    assert rendered.subject == f"{EVIL}, you left 1 item(s) & more"
    assert "Code: <code>TEN</code>" in rendered.html and "(code TEN)" in rendered.text
    assert "Still thinking?" in rendered.html


def test_every_link_in_the_email_carries_the_recommendation_id() -> None:
    trigger = cart_trigger()
    made = context(trigger, {})
    rendered = Templates().render(trigger, made)
    hrefs = [part.split('"', 1)[0] for part in rendered.html.split('href="')[1:]]
    assert len(hrefs) == 4  # the cart item, a recommendation, a complementary item, the shop
    for href in hrefs:
        assert query(href.replace("&amp;", "&"))["recommendation_id"] == [made["recommendation_id"]]
    urls = [w for w in rendered.text.split() if w.startswith("https://")]
    assert len(urls) == 4
    assert all(query(u)["recommendation_id"] == [made["recommendation_id"]] for u in urls)


def test_no_first_name_and_no_recommendations() -> None:
    trigger = cart_trigger(recommendations=0, complementary=0, offer=None, subject="Your cart")
    made = context(trigger, {}, first_name=None)
    assert made["recommendations"] == [] and made["person"] == {"traits": {}}
    assert len(made["recommendation_id"]) == 32
    rendered = Templates().render(trigger, made)
    assert "Hi," in rendered.text and "You may also like" not in rendered.text


def test_the_shops_templates_override_the_shipped_ones(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "message.html").write_text("<p>Hello {{ first_name }}</p>")
    (tmp_path / "templates" / "special.txt").write_text("special {{ items[0].title }}")
    (tmp_path / "templates" / "special.html").write_text("<b>{{ items[0].title }}</b>")
    templates = Templates.of_data_dir(tmp_path)
    trigger = cart_trigger()
    rendered = templates.render(trigger, context(trigger, {}))
    assert rendered.html == "<p>Hello &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co</p>"
    assert rendered.text.startswith("Still thinking?")  # the shipped text template
    special = cart_trigger(template="special")
    assert templates.render(special, context(special, {})).text == f"special {EVIL}"


def test_tracked_replaces_old_tracking_parameters() -> None:
    url = tracked("https://s.example/x?utm_source=old&a=1", "rid", "camp", "webhook")
    assert query(url) == {
        "a": ["1"],
        "recommendation_id": ["rid"],
        "utm_source": ["shopwise"],
        "utm_medium": ["webhook"],
        "utm_campaign": ["camp"],
    }
