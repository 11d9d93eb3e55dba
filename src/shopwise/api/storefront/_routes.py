"""The storefront's routes: server-rendered page shells over the catalog, the login that vouches
for a user id, and the page's own script and style sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict
from starlette.responses import FileResponse, HTMLResponse

from shopwise.api._runtime import runtime
from shopwise.api.storefront._shop import Shop, vouch, write_key
from shopwise.errors import NotFound
from shopwise.schema import Id

PREFIX: Final = "/demo"
HERE: Final = Path(__file__).parent
STATIC: Final = {
    "storefront.css": "text/css",
    "storefront.js": "text/javascript",
}
"""The files under ``static/`` a page may load, and their media types (nothing else is served)."""
HOME_ROW: Final = 10
"""Products in each of the home page's rows."""

_templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["money"] = lambda value, currency="EUR": f"{value:,.2f} {currency}"


def _development_only(request: Request) -> None:
    """404 in production: the demo's login vouches for any user id it is given."""
    if runtime(request).settings.environment == "production":
        raise NotFound("the demo storefront is served in development only")


router = APIRouter(
    prefix=PREFIX,
    tags=["storefront"],
    include_in_schema=False,
    dependencies=[Depends(_development_only)],
)


class LoginIn(BaseModel):
    """The demo's login form: a user id, no password (a demo shop's customers are simulated)."""

    model_config = ConfigDict(extra="forbid")

    user_id: Id


def _shop(request: Request) -> Shop:
    """The storefront's view of the current catalog snapshot (rebuilt when the snapshot is)."""
    snapshot = runtime(request).catalog.snapshot()
    shop: Shop | None = getattr(request.app.state, "storefront_shop", None)
    if shop is None or shop.snapshot is not snapshot:
        shop = Shop(snapshot)
        request.app.state.storefront_shop = shop
    return shop


def _page(request: Request, template: str, shop: Shop, **values: Any) -> HTMLResponse:
    """A page: its template with the shell's values and the SDK's settings for the page."""
    config = {
        "writeKey": write_key(runtime(request)),
        "endpoint": str(request.base_url).rstrip("/"),
        "base": PREFIX,
    }
    html = _templates.get_template(template).render(
        base=PREFIX, departments=shop.departments(), config=config, **values
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("")
def home(request: Request) -> HTMLResponse:
    """Home: the targeted banner and personalized rows (rendered by the SDK), and new arrivals."""
    shop = _shop(request)
    return _page(request, "home.html", shop, featured=shop.featured(HOME_ROW), row=HOME_ROW)


@router.get("/category/{slug}")
def category(request: Request, slug: str) -> HTMLResponse:
    """A category: its products in catalog order, reordered for the shopper by the page."""
    shop = _shop(request)
    current = shop.category(slug)
    return _page(
        request,
        "category.html",
        shop,
        category=current,
        trail=shop.trail(current),
        children=shop.children(current),
        products=shop.in_category(current),
    )


@router.get("/products/{product_id}")
def product(request: Request, product_id: str) -> HTMLResponse:
    """A product: its details, similar and complementary products."""
    shop = _shop(request)
    card = shop.product(product_id)
    trail = shop.trail(card.category) if card.category else []
    return _page(request, "product.html", shop, product=card, trail=trail)


@router.get("/cart")
def cart(request: Request) -> HTMLResponse:
    """The cart (kept in the browser) with cross-sell."""
    return _page(request, "cart.html", _shop(request))


@router.get("/login")
def login_page(request: Request) -> HTMLResponse:
    return _page(request, "login.html", _shop(request))


@router.post("/login")
def login(request: Request, body: LoginIn) -> dict[str, str]:
    """Log a demo shopper in: the user id and its ``user_hash``, for the page's
    ``shopwise.identify`` (a shop's backend does this for the user it authenticated)."""
    return {"user_id": body.user_id, "user_hash": vouch(runtime(request), body.user_id)}


@router.get("/static/{name}")
def static(name: str) -> FileResponse:
    """The page's script and style sheet (the names of :data:`STATIC`)."""
    media_type = STATIC.get(name)
    if media_type is None:
        raise NotFound(f"name: no storefront file is called {name!r}")
    return FileResponse(HERE / "static" / name, media_type=media_type)
