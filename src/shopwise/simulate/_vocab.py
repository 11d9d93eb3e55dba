"""Word lists behind the demo shop: departments, the category tree, brands and product words.

The simulator draws product titles, descriptions, search queries and category pages from these
lists, so each leaf category has its own vocabulary. That is what lets text models (TF-IDF,
sentence embeddings) and category features carry real signal on the simulated data. Everything
here is plain immutable data; nothing is random.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

CATEGORY_SEPARATOR: Final = " > "
"""How a category path is spelled in event properties (``"Home > Kitchen > Knives"``)."""


@dataclass(frozen=True)
class Leaf:
    """A leaf category: its path, the product nouns sold there and their selling points."""

    path: tuple[str, str, str]
    nouns: tuple[str, ...]
    features: tuple[str, ...]
    median_price: float

    @property
    def label(self) -> str:
        """The path joined with :data:`CATEGORY_SEPARATOR`."""
        return CATEGORY_SEPARATOR.join(self.path)

    @property
    def slug(self) -> str:
        """A URL-safe name of the path (``home-kitchen-knives``)."""
        words = "-".join(self.path).lower()
        return "".join(ch if ch.isalnum() else "-" for ch in words).replace("--", "-")


@dataclass(frozen=True)
class Department:
    """A top-level category with its brands, adjectives, materials, variants and leaves."""

    name: str
    brands: tuple[str, ...]
    adjectives: tuple[str, ...]
    materials: tuple[str, ...]
    variants: tuple[str, ...]
    phrases: tuple[str, ...]
    leaves: tuple[Leaf, ...]


def _leaf(top: str, mid: str, leaf: str, nouns: str, features: str, price: float) -> Leaf:
    return Leaf(
        path=(top, mid, leaf),
        nouns=tuple(n.strip() for n in nouns.split(",")),
        features=tuple(f.strip() for f in features.split(",")),
        median_price=price,
    )


_HOME = Department(
    name="Home",
    brands=("Kochwerk", "Nordhem", "Casa Lume", "Ostara", "Brightwood", "Maison Vale"),
    adjectives=("classic", "modern", "rustic", "minimalist", "premium", "everyday", "nordic"),
    materials=("stainless steel", "oak wood", "ceramic", "stoneware", "linen", "cotton", "glass"),
    variants=("white", "black", "sage green", "terracotta", "natural", "charcoal", "navy"),
    phrases=(
        "Designed for the way you really live at home.",
        "A quiet upgrade for kitchen, living room or bedroom.",
        "Easy to clean and built to last for years of daily use.",
        "Pairs well with the rest of our home collection.",
    ),
    leaves=(
        _leaf(
            "Home",
            "Kitchen",
            "Knives",
            "chef's knife, santoku knife, paring knife, bread knife, knife block, sharpening steel",
            "forged blade, razor sharp edge, full tang, ergonomic handle, hand honed",
            45.0,
        ),
        _leaf(
            "Home",
            "Kitchen",
            "Cookware",
            "frying pan, saucepan, casserole dish, wok, stockpot, grill pan",
            "non-stick coating, induction ready, oven safe, cast iron core, even heating",
            55.0,
        ),
        _leaf(
            "Home",
            "Kitchen",
            "Coffee & Tea",
            "espresso maker, french press, pour-over dripper, teapot, milk frother, coffee grinder",
            "burr grinding, double walled, barista quality, brews in minutes, keeps warm",
            35.0,
        ),
        _leaf(
            "Home",
            "Kitchen",
            "Tableware",
            "dinner plate set, pasta bowl, coffee mug, wine glass set, serving platter",
            "dishwasher safe, microwave safe, hand glazed, stackable, chip resistant",
            25.0,
        ),
        _leaf(
            "Home",
            "Living",
            "Lighting",
            "table lamp, floor lamp, pendant light, led strip, reading light",
            "dimmable, warm white light, energy saving bulb, adjustable arm, soft glow",
            60.0,
        ),
        _leaf(
            "Home",
            "Living",
            "Cushions & Throws",
            "cushion cover, throw blanket, floor cushion, knitted pouf",
            "chunky knit, washable cover, feather filling, soft touch, cosy texture",
            30.0,
        ),
        _leaf(
            "Home",
            "Living",
            "Decor",
            "flower vase, picture frame, wall clock, scented candle, wall mirror",
            "hand made, gift ready, statement piece, long burning, silent movement",
            28.0,
        ),
        _leaf(
            "Home",
            "Bedroom",
            "Bedding",
            "duvet cover, pillow, fitted sheet, mattress topper, weighted blanket",
            "breathable weave, thread count 400, hypoallergenic, temperature regulating",
            50.0,
        ),
    ),
)

_FASHION = Department(
    name="Fashion",
    brands=("Velour & Co", "Northline", "Atelier Moss", "Urban Fable", "Linnea", "Stride Lab"),
    adjectives=("relaxed", "tailored", "oversized", "slim", "vintage", "essential", "cropped"),
    materials=("organic cotton", "merino wool", "denim", "leather", "recycled polyester", "silk"),
    variants=("black", "ecru", "olive", "camel", "indigo", "burgundy", "grey marl"),
    phrases=(
        "A wardrobe staple that works from weekday to weekend.",
        "Cut for comfort with a flattering fit.",
        "Made in small batches with responsibly sourced fabric.",
        "Style it up or down for any occasion.",
    ),
    leaves=(
        _leaf(
            "Fashion",
            "Women",
            "Dresses",
            "wrap dress, maxi dress, shirt dress, slip dress, knit dress",
            "flowing silhouette, tie waist, midi length, side pockets, floral print",
            60.0,
        ),
        _leaf(
            "Fashion",
            "Women",
            "Knitwear",
            "cardigan, jumper, turtleneck, knitted vest",
            "ribbed cuffs, cable knit, soft handfeel, crew neck, chunky yarn",
            55.0,
        ),
        _leaf(
            "Fashion",
            "Women",
            "Handbags",
            "tote bag, crossbody bag, clutch, shoulder bag, bucket bag",
            "adjustable strap, zip closure, inner pockets, gold hardware, roomy interior",
            80.0,
        ),
        _leaf(
            "Fashion",
            "Men",
            "Shirts",
            "oxford shirt, flannel shirt, linen shirt, overshirt, polo shirt",
            "button down collar, regular fit, chest pocket, easy iron, breathable",
            40.0,
        ),
        _leaf(
            "Fashion",
            "Men",
            "Jackets",
            "parka, bomber jacket, rain jacket, wool coat, quilted jacket",
            "water repellent, insulated lining, detachable hood, storm flap, windproof",
            120.0,
        ),
        _leaf(
            "Fashion",
            "Men",
            "Jeans & Trousers",
            "slim jeans, straight jeans, chinos, cargo trousers, joggers",
            "stretch denim, five pocket, tapered leg, raw hem, mid rise",
            65.0,
        ),
        _leaf(
            "Fashion",
            "Shoes",
            "Sneakers",
            "sneakers, trainers, slip-ons, high tops, canvas shoes",
            "cushioned insole, rubber sole, lace up, lightweight, vegan leather",
            85.0,
        ),
        _leaf(
            "Fashion",
            "Shoes",
            "Boots",
            "chelsea boots, ankle boots, lace-up boots, winter boots",
            "grippy sole, elastic side panels, waterproof upper, warm lining, block heel",
            110.0,
        ),
    ),
)

_ELECTRONICS = Department(
    name="Electronics",
    brands=("Voltra", "Sonique", "Pixelforge", "Lumen Labs", "Kairo", "Bytewise"),
    adjectives=("wireless", "compact", "pro", "smart", "portable", "ultra slim", "next gen"),
    materials=("aluminium", "matte plastic", "tempered glass", "silicone", "braided nylon"),
    variants=("black", "silver", "space grey", "white", "midnight blue"),
    phrases=(
        "Set up in minutes with the companion app.",
        "Two year warranty and free firmware updates.",
        "Works with iOS, Android, Windows and macOS.",
        "Engineered for all-day performance.",
    ),
    leaves=(
        _leaf(
            "Electronics",
            "Audio",
            "Headphones",
            "over-ear headphones, earbuds, noise cancelling headphones, sport earphones",
            "active noise cancelling, 30 hour battery, bluetooth 5.3, deep bass, low latency",
            120.0,
        ),
        _leaf(
            "Electronics",
            "Audio",
            "Speakers",
            "bluetooth speaker, soundbar, smart speaker, bookshelf speakers",
            "360 degree sound, waterproof ip67, voice assistant, room filling bass, multiroom",
            90.0,
        ),
        _leaf(
            "Electronics",
            "Computing",
            "Keyboards & Mice",
            "mechanical keyboard, wireless mouse, trackpad, ergonomic keyboard, gaming mouse",
            "hot swappable switches, rgb backlight, silent clicks, rechargeable, high dpi",
            60.0,
        ),
        _leaf(
            "Electronics",
            "Computing",
            "Monitors",
            "4k monitor, ultrawide monitor, portable monitor, gaming monitor",
            "ips panel, 144hz refresh, usb-c power delivery, height adjustable, hdr",
            250.0,
        ),
        _leaf(
            "Electronics",
            "Phone",
            "Cases & Protection",
            "phone case, screen protector, camera lens protector, wallet case",
            "drop tested, magsafe compatible, scratch resistant, slim profile, card slot",
            20.0,
        ),
        _leaf(
            "Electronics",
            "Phone",
            "Chargers & Cables",
            "wireless charger, power bank, usb-c cable, wall charger, car charger",
            "fast charging, 65w output, gan technology, 10000 mah, tangle free",
            25.0,
        ),
        _leaf(
            "Electronics",
            "Smart Home",
            "Cameras & Doorbells",
            "security camera, video doorbell, baby monitor, dash cam",
            "night vision, motion alerts, 2k resolution, two way audio, local storage",
            90.0,
        ),
        _leaf(
            "Electronics",
            "Smart Home",
            "Plugs & Sensors",
            "smart plug, motion sensor, smart thermostat, door sensor, smart bulb",
            "energy monitoring, voice control, schedules and scenes, zigbee, matter ready",
            35.0,
        ),
    ),
)

_SPORTS = Department(
    name="Sports & Outdoors",
    brands=("Trailhead", "Peakform", "Aeroline", "Summit Ridge", "Kinetic", "Wildgrove"),
    adjectives=("lightweight", "technical", "all-weather", "performance", "trail", "packable"),
    materials=("ripstop nylon", "recycled polyester", "natural rubber", "aluminium", "eva foam"),
    variants=("forest green", "black", "orange", "blue", "grey", "sand"),
    phrases=(
        "Tested by athletes in the mountains and on the track.",
        "Built for training, trails and weekends outside.",
        "Packs down small and goes wherever you go.",
        "Performance gear at a fair price.",
    ),
    leaves=(
        _leaf(
            "Sports & Outdoors",
            "Running",
            "Running Shoes",
            "road running shoes, trail running shoes, racing flats, stability shoes",
            "responsive foam, carbon plate, breathable mesh, 8mm drop, aggressive lugs",
            110.0,
        ),
        _leaf(
            "Sports & Outdoors",
            "Running",
            "Running Apparel",
            "running tights, running shirt, running jacket, running shorts",
            "reflective details, moisture wicking, quick dry, zip pocket, four way stretch",
            45.0,
        ),
        _leaf(
            "Sports & Outdoors",
            "Camping",
            "Tents",
            "two person tent, family tent, backpacking tent, pop-up tent",
            "freestanding, 3000mm waterproof, quick pitch, vestibule storage, ultralight",
            180.0,
        ),
        _leaf(
            "Sports & Outdoors",
            "Camping",
            "Sleeping Bags",
            "mummy sleeping bag, down sleeping bag, sleeping pad, camping pillow",
            "comfort rating 0c, compressible, self inflating, water resistant shell",
            90.0,
        ),
        _leaf(
            "Sports & Outdoors",
            "Camping",
            "Backpacks",
            "hiking backpack, daypack, travel backpack, hydration pack",
            "ventilated back panel, rain cover, hip belt, 30 litre capacity, laptop sleeve",
            75.0,
        ),
        _leaf(
            "Sports & Outdoors",
            "Fitness",
            "Yoga",
            "yoga mat, yoga block, yoga strap, meditation cushion",
            "non-slip surface, extra thick, eco friendly, alignment lines, carry strap",
            30.0,
        ),
        _leaf(
            "Sports & Outdoors",
            "Fitness",
            "Weights",
            "dumbbell set, kettlebell, resistance bands, weight plates, pull-up bar",
            "adjustable weight, knurled grip, rubber coated, compact storage, home gym",
            45.0,
        ),
        _leaf(
            "Sports & Outdoors",
            "Cycling",
            "Bike Accessories",
            "bike light, bike helmet, bike lock, saddle bag, bottle cage",
            "usb rechargeable, mips protection, hardened steel, quick release, high visibility",
            40.0,
        ),
    ),
)

_BEAUTY = Department(
    name="Beauty",
    brands=("Lumiere", "Botanica", "Skinlab", "Velvet Rose", "Aqua Pura", "Noir Atelier"),
    adjectives=("gentle", "hydrating", "nourishing", "radiant", "clean", "intensive"),
    materials=(
        "hyaluronic acid",
        "vitamin c",
        "shea butter",
        "argan oil",
        "aloe vera",
        "niacinamide",
    ),
    variants=("50 ml", "100 ml", "200 ml", "travel size", "refill"),
    phrases=(
        "Dermatologically tested and suitable for sensitive skin.",
        "Cruelty free and vegan formula.",
        "Visible results in as little as two weeks.",
        "A daily ritual you will look forward to.",
    ),
    leaves=(
        _leaf(
            "Beauty",
            "Skincare",
            "Moisturisers",
            "day cream, night cream, face moisturiser, eye cream, tinted moisturiser",
            "spf 30, 24 hour hydration, fragrance free, non-greasy, anti ageing",
            28.0,
        ),
        _leaf(
            "Beauty",
            "Skincare",
            "Cleansers",
            "cleansing gel, micellar water, cleansing balm, face wash, exfoliating scrub",
            "removes makeup, ph balanced, foaming, soap free, gentle exfoliation",
            18.0,
        ),
        _leaf(
            "Beauty",
            "Skincare",
            "Serums",
            "face serum, retinol serum, brightening serum, face oil",
            "fast absorbing, evens skin tone, reduces fine lines, concentrated formula",
            35.0,
        ),
        _leaf(
            "Beauty",
            "Haircare",
            "Shampoo & Conditioner",
            "shampoo, conditioner, hair mask, dry shampoo, leave-in conditioner",
            "sulfate free, colour safe, repairs split ends, volumising, curl defining",
            12.0,
        ),
        _leaf(
            "Beauty",
            "Haircare",
            "Styling Tools",
            "hair dryer, hair straightener, curling wand, hot brush",
            "ionic technology, ceramic plates, fast drying, heat protection, travel voltage",
            45.0,
        ),
        _leaf(
            "Beauty",
            "Fragrance",
            "Perfume",
            "eau de parfum, eau de toilette, body mist, perfume gift set",
            "floral notes, woody base, long lasting, fresh citrus, amber vanilla",
            65.0,
        ),
        _leaf(
            "Beauty",
            "Makeup",
            "Lips & Face",
            "lipstick, lip gloss, foundation, concealer, blush palette",
            "matte finish, buildable coverage, long wear, satin shine, shade matched",
            22.0,
        ),
    ),
)

_TOYS = Department(
    name="Toys & Kids",
    brands=("Brickly", "Tiny Oak", "Playnest", "Wondercraft", "Little Comet", "Gameforge"),
    adjectives=("colourful", "educational", "award winning", "classic", "creative", "cuddly"),
    materials=("fsc wood", "organic cotton", "recycled cardboard", "bpa-free plastic", "plush"),
    variants=("age 3+", "age 6+", "age 8+", "age 12+", "family edition"),
    phrases=(
        "Hours of screen-free fun for the whole family.",
        "Safety tested to EN 71 standards.",
        "A favourite gift for birthdays and holidays.",
        "Encourages creativity, problem solving and play.",
    ),
    leaves=(
        _leaf(
            "Toys & Kids",
            "Toys",
            "Building Sets",
            "building blocks, construction set, marble run, magnetic tiles",
            "500 pieces, compatible bricks, step by step instructions, stem learning",
            40.0,
        ),
        _leaf(
            "Toys & Kids",
            "Toys",
            "Puzzles",
            "jigsaw puzzle, 3d puzzle, floor puzzle, brain teaser",
            "1000 pieces, thick pieces, poster included, matte finish",
            18.0,
        ),
        _leaf(
            "Toys & Kids",
            "Toys",
            "Plush",
            "teddy bear, plush bunny, soft dinosaur, sleep buddy",
            "super soft, machine washable, embroidered eyes, huggable size",
            20.0,
        ),
        _leaf(
            "Toys & Kids",
            "Games",
            "Board Games",
            "strategy board game, family board game, cooperative game, party game",
            "2 to 6 players, 45 minute play time, easy to learn, high replay value",
            32.0,
        ),
        _leaf(
            "Toys & Kids",
            "Games",
            "Card Games",
            "card game, trading card deck, dice game, trivia game",
            "pocket sized, fast paced, expansion ready, travel friendly",
            14.0,
        ),
        _leaf(
            "Toys & Kids",
            "Baby",
            "Feeding",
            "baby bottle, sippy cup, bamboo plate set, high chair, bib set",
            "anti colic, leak proof, suction base, easy clean, sterilisable",
            20.0,
        ),
        _leaf(
            "Toys & Kids",
            "Baby",
            "Baby Clothing",
            "baby bodysuit, sleepsuit, knitted hat, baby romper",
            "envelope neck, popper fastening, gots certified, gentle on skin",
            22.0,
        ),
    ),
)

DEPARTMENTS: Final[tuple[Department, ...]] = (
    _HOME,
    _FASHION,
    _ELECTRONICS,
    _SPORTS,
    _BEAUTY,
    _TOYS,
)
"""The six top-level categories of the demo shop, each with its leaves."""

COMPLEMENT_PAIRS: Final[tuple[tuple[str, str], ...]] = (
    # Home: cooking, serving, and a cosy room
    ("Knives", "Cookware"),
    ("Knives", "Tableware"),
    ("Cookware", "Tableware"),
    ("Coffee & Tea", "Tableware"),
    ("Lighting", "Decor"),
    ("Lighting", "Cushions & Throws"),
    ("Cushions & Throws", "Decor"),
    ("Cushions & Throws", "Bedding"),
    # Fashion: an outfit, top to toe
    ("Dresses", "Handbags"),
    ("Dresses", "Knitwear"),
    ("Knitwear", "Jeans & Trousers"),
    ("Shirts", "Jeans & Trousers"),
    ("Shirts", "Jackets"),
    ("Jackets", "Boots"),
    ("Jackets", "Jeans & Trousers"),
    ("Jeans & Trousers", "Sneakers"),
    # Electronics: a desk, a phone, a smart home
    ("Keyboards & Mice", "Monitors"),
    ("Monitors", "Chargers & Cables"),
    ("Cases & Protection", "Chargers & Cables"),
    ("Headphones", "Chargers & Cables"),
    ("Speakers", "Plugs & Sensors"),
    ("Cameras & Doorbells", "Plugs & Sensors"),
    ("Plugs & Sensors", "Lighting"),
    # Sports & Outdoors: a camping trip, a run, a home workout, a ride
    ("Tents", "Sleeping Bags"),
    ("Tents", "Backpacks"),
    ("Sleeping Bags", "Backpacks"),
    ("Running Shoes", "Running Apparel"),
    ("Running Apparel", "Headphones"),
    ("Yoga", "Weights"),
    ("Bike Accessories", "Backpacks"),
    # Beauty: a skincare routine, hair care, an evening look
    ("Cleansers", "Moisturisers"),
    ("Cleansers", "Serums"),
    ("Moisturisers", "Serums"),
    ("Shampoo & Conditioner", "Styling Tools"),
    ("Perfume", "Lips & Face"),
    ("Lips & Face", "Cleansers"),
    # Toys & Kids: game night, quiet play, a baby's first things
    ("Board Games", "Card Games"),
    ("Board Games", "Puzzles"),
    ("Building Sets", "Puzzles"),
    ("Plush", "Baby Clothing"),
    ("Feeding", "Baby Clothing"),
)
"""Leaf categories (by leaf name) whose products go together in one basket, in both directions.

This is the simulator's ground truth of complementary products: after looking at or adding a
product, shoppers go on to view products of the leaves paired with its leaf. Most pairs stay in
a department; a few cross (headphones for running, smart plugs for lamps).
"""


def complement_leaves() -> dict[str, tuple[str, ...]]:
    """The complementary leaves of every leaf, by full label, from :data:`COMPLEMENT_PAIRS`.

    Returns
    -------
    dict[str, tuple[str, ...]]
        For each leaf label (``"Home > Kitchen > Knives"``), the labels of the leaves whose
        products go with it, in catalog order; every leaf has at least one.
    """
    label = {leaf.path[2]: leaf.label for dept in DEPARTMENTS for leaf in dept.leaves}
    paired: dict[str, set[str]] = {name: set() for name in label}
    for first, second in COMPLEMENT_PAIRS:
        paired[first].add(second)
        paired[second].add(first)
    order = list(label)
    return {
        label[name]: tuple(label[other] for other in sorted(mates, key=order.index))
        for name, mates in paired.items()
    }


FIRST_NAMES: Final = (
    "Anna", "Lukas", "Emma", "Leon", "Mia", "Noah", "Sofia", "Elias", "Lea", "Paul",
    "Clara", "Jonas", "Marie", "Felix", "Lina", "Louis", "Chloe", "Hugo", "Jade", "Lucas",
    "Sara", "Daan", "Julia", "Matteo", "Giulia", "Pablo", "Lucia", "Oliver", "Amelia", "Jack",
)  # fmt: skip
LAST_NAMES: Final = (
    "Schmidt", "Müller", "Weber", "Fischer", "Wagner", "Becker", "Martin", "Bernard", "Dubois",
    "Petit", "de Jong", "Jansen", "Visser", "García", "López", "Rossi", "Bianchi", "Smith",
    "Jones", "Taylor", "Brown", "Novak", "Kowalski", "Nielsen", "Hansen", "Andersson",
)  # fmt: skip

LOCALES: Final = ("de-DE", "en-GB", "fr-FR", "nl-NL", "es-ES", "it-IT")
LOCALE_SHARES: Final = (0.45, 0.15, 0.15, 0.1, 0.1, 0.05)

USER_AGENTS: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
