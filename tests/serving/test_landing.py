"""Landing pages by source: content blocks and sections target the campaign, source, medium,
referrer and device a visit came with, over ``/v1/decide``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from shopwise.decide import Audience, ContentSet, Landing, ShopperContext, device_of
from shopwise.runtime import Runtime

Shop = tuple[TestClient, Runtime, dict[str, dict[str, str]]]

CAMPAIGN = """
blocks:
  - name: summer-hero
    kind: banner
    priority: 80
    audience: {utm_campaign: [Summer-Sale], utm_medium: [email]}
    content: {title: "Summer sale: 20% off garden", code: SUMMER20}
  - name: from-instagram
    kind: banner
    priority: 60
    audience: {referrer: ["https://www.instagram.com/"], device: [mobile]}
    content: {title: "Seen on Instagram"}
  - name: everyone
    kind: banner
    content: {title: "Free returns"}
layouts:
  home:
    - {name: recommended, weight: 3}
    - {name: summer-picks, weight: 10, audience: {utm_campaign: [summer-sale]}}
    - {name: bestsellers, weight: 1}
"""


def _ctx(**landing: str) -> ShopperContext:
    return ShopperContext("home", datetime.now(UTC), landing=Landing.of(**landing))


def test_landing_conditions_match_any_case_and_name_themselves() -> None:
    audience = Audience(utm_campaign=["Summer-Sale"], utm_source=["newsletter"])
    assert audience.reasons(_ctx(utm_campaign="SUMMER-sale", utm_source="Newsletter")) == [
        "campaign:summer-sale",
        "source:newsletter",
    ]
    assert audience.reasons(_ctx(utm_campaign="summer-sale")) is None  # source missing
    assert audience.reasons(_ctx(utm_campaign="winter", utm_source="newsletter")) is None
    sites = Audience(referrer=["instagram.com"])
    assert sites.reasons(_ctx(referrer="https://l.instagram.com/x?u=1")) == [
        "referrer:l.instagram.com"
    ]
    assert sites.reasons(_ctx(referrer="notinstagram.com")) is None
    assert sites.reasons(_ctx()) is None
    assert Audience(device=["tablet"]).reasons(_ctx(device="tablet")) == ["device:tablet"]
    with pytest.raises(ValidationError, match="device"):
        Audience.model_validate({"device": ["fridge"]})


def test_the_referrer_keeps_only_its_host_and_the_device_comes_from_the_user_agent() -> None:
    landing = Landing.of(referrer="https://www.Google.com/search?q=my+name")
    assert landing.referrer == "google.com"
    assert Landing.of(referrer="  ").referrer is None
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"
    pixel = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/131.0 Mobile Safari/537.36"
    tab = "Mozilla/5.0 (Linux; Android 13; SM-X200) Chrome/131.0 Safari/537.36"
    desktop = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"
    assert [device_of(ua) for ua in (iphone, pixel, tab, desktop, None)] == [
        "mobile",
        "mobile",
        "tablet",
        "desktop",
        None,
    ]


def test_a_targeted_section_appears_only_for_its_audience() -> None:
    content = ContentSet.model_validate(
        {
            "layouts": {
                "home": [
                    {"name": "recommended", "weight": 3},
                    {"name": "summer", "weight": 9, "audience": {"utm_campaign": ["summer"]}},
                ]
            }
        }
    )
    assert content.layout(_ctx(utm_campaign="summer")) == [
        {"name": "summer", "reason": "campaign:summer"},
        {"name": "recommended", "reason": "default"},
    ]
    assert content.layout(_ctx()) == [{"name": "recommended", "reason": "default"}]


def test_decide_serves_the_campaign_landing_page(shop: Shop) -> None:
    client, _runtime, keys = shop
    stored = client.put("/v1/content", content=CAMPAIGN, headers=keys["admin"])
    assert stored.status_code == 200, stored.text

    def decide(key: str, headers: dict[str, str] | None = None, **params: str) -> dict:  # type: ignore[type-arg]
        query = {"placement": "home", "anonymous_id": "visitor-1", **params}
        answer = client.get("/v1/decide", params=query, headers={**keys[key], **(headers or {})})
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    summer = decide("secret", utm_campaign="summer-sale", utm_medium="Email")
    assert summer["banner"]["name"] == "summer-hero"
    assert summer["banner"]["reasons"] == [
        "block:summer-hero",
        "campaign:summer-sale",
        "medium:email",
    ]
    assert [s["name"] for s in summer["layout"]] == ["summer-picks", "recommended", "bestsellers"]
    assert summer["layout"][0]["reason"] == "campaign:summer-sale"
    browser = decide("write", utm_campaign="summer-sale", utm_medium="email")
    assert browser["banner"]["reasons"] == ["rule"] and browser["layout"][0]["reason"] == "rule"

    phone = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148"}
    insta = decide("secret", phone, referrer="https://l.instagram.com/?u=shop")
    assert insta["banner"]["name"] == "from-instagram"
    assert insta["banner"]["reasons"][1:] == ["device:mobile", "referrer:l.instagram.com"]
    desktop = decide("secret", referrer="https://l.instagram.com/", device="desktop")
    assert desktop["banner"]["name"] == "everyone"
    plain = decide("secret")
    assert plain["banner"]["name"] == "everyone"
    assert [s["name"] for s in plain["layout"]] == ["recommended", "bestsellers"]

    bad = client.get(
        "/v1/decide",
        params={"placement": "home", "anonymous_id": "v", "device": "fridge"},
        headers=keys["secret"],
    )
    assert bad.status_code == 400 and "device" in bad.json()["error"]["message"]
    refused = client.put(
        "/v1/content",
        content="blocks: [{name: x, kind: banner, audience: {device: [fridge]}}]",
        headers=keys["admin"],
    )
    assert refused.status_code == 400 and "device" in refused.json()["error"]["message"]
