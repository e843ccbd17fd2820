"""Static reference data of the simulated shop: places, catalogue taxonomy, devices, campaigns.

Everything here is plain data. The coordinates are real city centres, so distance and speed
features computed on simulated traffic behave as they would on real traffic; the brands are
invented.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecap.v1 import common_pb2


@dataclass(frozen=True, slots=True)
class City:
    """A city a customer can live in or be seen in."""

    country: str
    region: str
    city: str
    latitude: float
    longitude: float
    utc_offset_h: int  # standard time; daylight saving is ignored on purpose


@dataclass(frozen=True, slots=True)
class Country:
    """A country with its cities, customer share, name locale and IPv4 first octets."""

    code: str
    share: float
    locale: str
    ip_octets: tuple[int, ...]
    cities: tuple[City, ...]


def _cities(country: str, offset: int, *rows: tuple[str, str, float, float]) -> tuple[City, ...]:
    return tuple(City(country, region, city, lat, lon, offset) for city, region, lat, lon in rows)


HOME_COUNTRIES: tuple[Country, ...] = (
    Country("DE", 0.25, "de_DE", (84, 91, 217), _cities(
        "DE", 1,
        ("Berlin", "Berlin", 52.520, 13.405),
        ("Hamburg", "Hamburg", 53.551, 9.994),
        ("München", "Bayern", 48.137, 11.575),
        ("Köln", "Nordrhein-Westfalen", 50.938, 6.960),
        ("Frankfurt am Main", "Hessen", 50.110, 8.682),
        ("Leipzig", "Sachsen", 51.340, 12.375),
    )),
    Country("FR", 0.15, "fr_FR", (90, 92, 109), _cities(
        "FR", 1,
        ("Paris", "Île-de-France", 48.857, 2.352),
        ("Lyon", "Auvergne-Rhône-Alpes", 45.764, 4.836),
        ("Marseille", "Provence-Alpes-Côte d'Azur", 43.297, 5.370),
        ("Toulouse", "Occitanie", 43.605, 1.444),
        ("Lille", "Hauts-de-France", 50.629, 3.057),
    )),
    Country("GB", 0.12, "en_GB", (81, 82, 86), _cities(
        "GB", 0,
        ("London", "England", 51.507, -0.128),
        ("Manchester", "England", 53.481, -2.243),
        ("Birmingham", "England", 52.486, -1.890),
        ("Edinburgh", "Scotland", 55.953, -3.189),
        ("Glasgow", "Scotland", 55.864, -4.252),
    )),
    Country("IT", 0.10, "it_IT", (79, 93, 151), _cities(
        "IT", 1,
        ("Roma", "Lazio", 41.903, 12.496),
        ("Milano", "Lombardia", 45.464, 9.190),
        ("Napoli", "Campania", 40.852, 14.268),
        ("Torino", "Piemonte", 45.070, 7.687),
    )),
    Country("ES", 0.10, "es_ES", (83, 88, 95), _cities(
        "ES", 1,
        ("Madrid", "Comunidad de Madrid", 40.417, -3.704),
        ("Barcelona", "Cataluña", 41.385, 2.173),
        ("Valencia", "Comunidad Valenciana", 39.470, -0.376),
        ("Sevilla", "Andalucía", 37.389, -5.984),
    )),
    Country("NL", 0.08, "nl_NL", (77, 145, 213), _cities(
        "NL", 1,
        ("Amsterdam", "Noord-Holland", 52.368, 4.904),
        ("Rotterdam", "Zuid-Holland", 51.924, 4.478),
        ("Utrecht", "Utrecht", 52.091, 5.122),
    )),
    Country("PL", 0.06, "pl_PL", (31, 89, 178), _cities(
        "PL", 1,
        ("Warszawa", "Mazowieckie", 52.230, 21.012),
        ("Kraków", "Małopolskie", 50.065, 19.945),
        ("Wrocław", "Dolnośląskie", 51.108, 17.039),
    )),
    Country("SE", 0.04, "sv_SE", (78, 155, 194), _cities(
        "SE", 1,
        ("Stockholm", "Stockholm", 59.329, 18.069),
        ("Göteborg", "Västra Götaland", 57.709, 11.975),
    )),
    Country("AT", 0.04, "de_AT", (80, 188, 193), _cities(
        "AT", 1,
        ("Wien", "Wien", 48.208, 16.374),
        ("Graz", "Steiermark", 47.071, 15.439),
    )),
    Country("BE", 0.03, "nl_BE", (94, 141, 212), _cities(
        "BE", 1,
        ("Bruxelles", "Bruxelles-Capitale", 50.850, 4.352),
        ("Antwerpen", "Antwerpen", 51.219, 4.402),
    )),
    Country("IE", 0.02, "en_IE", (37, 87, 176), _cities(
        "IE", 0,
        ("Dublin", "Leinster", 53.350, -6.260),
        ("Cork", "Munster", 51.899, -8.476),
    )),
    Country("PT", 0.01, "pt_PT", (85, 148, 161), _cities(
        "PT", 0,
        ("Lisboa", "Lisboa", 38.722, -9.139),
        ("Porto", "Porto", 41.158, -8.629),
    )),
)  # fmt: skip

# Far from every home country: where travellers fly to and where stolen credentials are used.
FAR_COUNTRIES: tuple[Country, ...] = (
    Country("US", 0, "en_US", (23, 67, 104), _cities(
        "US", -5, ("New York", "New York", 40.713, -74.006)) + _cities(
        "US", -8, ("Los Angeles", "California", 34.052, -118.244))),
    Country("BR", 0, "pt_BR", (177, 179, 186), _cities(
        "BR", -3, ("São Paulo", "São Paulo", -23.551, -46.633))),
    Country("JP", 0, "ja_JP", (60, 106, 126), _cities(
        "JP", 9, ("Tokyo", "Tokyo", 35.676, 139.650))),
    Country("SG", 0, "en_US", (101, 116, 203), _cities(
        "SG", 8, ("Singapore", "Singapore", 1.352, 103.820))),
    Country("AU", 0, "en_AU", (1, 49, 124), _cities(
        "AU", 10, ("Sydney", "New South Wales", -33.869, 151.209))),
    Country("ZA", 0, "en_US", (41, 102, 105), _cities(
        "ZA", 2, ("Johannesburg", "Gauteng", -26.204, 28.047))),
    Country("IN", 0, "en_IN", (14, 103, 117), _cities(
        "IN", 5, ("Mumbai", "Maharashtra", 19.076, 72.878))),
    Country("CA", 0, "en_CA", (24, 70, 142), _cities(
        "CA", -5, ("Toronto", "Ontario", 43.653, -79.383))),
    Country("MX", 0, "es_MX", (187, 189, 201), _cities(
        "MX", -6, ("Ciudad de México", "Ciudad de México", 19.433, -99.133))),
    Country("TH", 0, "en_US", (27, 58, 171), _cities(
        "TH", 7, ("Bangkok", "Bangkok", 13.756, 100.502))),
)  # fmt: skip

# First octets of hosting providers and anonymising proxies, where scripted fraud comes from.
DATACENTER_OCTETS: tuple[int, ...] = (45, 185, 198)

FREE_EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "outlook.com", "yahoo.com", "icloud.com", "gmx.net", "web.de", "orange.fr",
    "libero.it", "proton.me", "hotmail.com",
)  # fmt: skip
DISPOSABLE_EMAIL_DOMAINS: tuple[str, ...] = ("mailinator.com", "tempmail.dev", "10minmail.net")


@dataclass(frozen=True, slots=True)
class Leaf:
    """A leaf category: what it costs, what it is called, how many units people buy."""

    path: tuple[str, str, str]
    noun: str
    price_eur: tuple[float, float]
    margin: tuple[float, float]  # share of the price that is not unit cost
    consumable: bool = False  # bought several at a time


_TOP_BRANDS: dict[str, tuple[str, ...]] = {
    "Electronics": ("Voltara", "Nexio", "Sonique", "Lumetra", "Kairo"),
    "Computers": ("Bytewell", "Corvex", "Inkwise", "Tessera"),
    "Home & Kitchen": ("Casaluna", "Brewmaster", "Ferro & Co", "Ember"),
    "Sports": ("Stride", "Peakform", "Veloce", "Aerofit"),
    "Fashion": ("Maison Lys", "Northwear", "Atelier Nove", "Urbano"),
    "Beauty": ("Belle Rive", "Purenne", "Aquavera"),
    "Books": ("Harbor Press", "Lantern Books", "Quill & Co"),
    "Toys": ("Blokkit", "Playnest", "Funtastic"),
    "Gift Cards": ("ECAP Shop",),
}


def brands_of(top: str) -> tuple[str, ...]:
    """The brands selling in a top-level category."""
    return _TOP_BRANDS[top]


LEAVES: tuple[Leaf, ...] = (
    Leaf(("Electronics", "Phones", "Smartphones"), "Smartphone", (199, 1199), (0.12, 0.25)),
    Leaf(("Electronics", "Phones", "Phone Cases"), "Phone Case", (9, 39), (0.55, 0.75)),
    Leaf(("Electronics", "Phones", "Chargers"), "USB-C Charger", (12, 49), (0.45, 0.65)),
    Leaf(("Electronics", "Audio", "Headphones"), "Headphones", (29, 399), (0.25, 0.45)),
    Leaf(("Electronics", "Audio", "Speakers"), "Bluetooth Speaker", (39, 499), (0.25, 0.45)),
    Leaf(("Electronics", "Cameras", "Digital Cameras"), "Camera", (299, 2499), (0.10, 0.22)),
    Leaf(("Electronics", "Cameras", "Memory Cards"), "Memory Card", (8, 79), (0.40, 0.60), True),
    Leaf(("Computers", "Laptops", "Laptops"), "Laptop", (449, 2799), (0.08, 0.20)),
    Leaf(("Computers", "Laptops", "Laptop Bags"), "Laptop Bag", (25, 119), (0.45, 0.65)),
    Leaf(("Computers", "Accessories", "Mice"), "Wireless Mouse", (12, 99), (0.40, 0.60)),
    Leaf(("Computers", "Accessories", "Keyboards"), "Keyboard", (19, 199), (0.35, 0.55)),
    Leaf(("Computers", "Printers", "Printers"), "Printer", (79, 499), (0.05, 0.15)),
    Leaf(("Computers", "Printers", "Ink"), "Ink Cartridge", (12, 59), (0.55, 0.75), True),
    Leaf(("Home & Kitchen", "Coffee", "Coffee Machines"), "Coffee Machine", (59, 899), (0.2, 0.4)),
    Leaf(("Home & Kitchen", "Coffee", "Coffee Beans"), "Coffee Beans", (6, 29), (0.3, 0.5), True),
    Leaf(("Home & Kitchen", "Cookware", "Pans"), "Frying Pan", (19, 149), (0.35, 0.55)),
    Leaf(("Home & Kitchen", "Cookware", "Knives"), "Chef's Knife", (15, 199), (0.40, 0.60)),
    Leaf(("Home & Kitchen", "Grilling", "Grills"), "Gas Grill", (99, 999), (0.18, 0.32)),
    Leaf(("Home & Kitchen", "Grilling", "BBQ Tools"), "BBQ Tool Set", (9, 69), (0.45, 0.65)),
    Leaf(("Sports", "Running", "Running Shoes"), "Running Shoes", (59, 219), (0.35, 0.55)),
    Leaf(("Sports", "Running", "Running Socks"), "Running Socks", (5, 19), (0.55, 0.75), True),
    Leaf(("Sports", "Fitness", "Yoga Mats"), "Yoga Mat", (15, 89), (0.45, 0.65)),
    Leaf(("Sports", "Fitness", "Dumbbells"), "Dumbbell Set", (19, 199), (0.30, 0.50)),
    Leaf(("Sports", "Cycling", "Bikes"), "Bike", (299, 3499), (0.15, 0.30)),
    Leaf(("Sports", "Cycling", "Bike Helmets"), "Bike Helmet", (29, 199), (0.40, 0.60)),
    Leaf(("Fashion", "Women", "Dresses"), "Dress", (19, 199), (0.50, 0.70)),
    Leaf(("Fashion", "Women", "Handbags"), "Handbag", (29, 499), (0.50, 0.70)),
    Leaf(("Fashion", "Men", "Shirts"), "Shirt", (15, 99), (0.50, 0.70)),
    Leaf(("Fashion", "Men", "Ties"), "Tie", (9, 59), (0.60, 0.80)),
    Leaf(("Fashion", "Shoes", "Sneakers"), "Sneakers", (39, 179), (0.40, 0.60)),
    Leaf(("Fashion", "Accessories", "Sunglasses"), "Sunglasses", (15, 249), (0.55, 0.75)),
    Leaf(("Beauty", "Skincare", "Moisturisers"), "Moisturiser", (5, 79), (0.55, 0.75), True),
    Leaf(("Beauty", "Skincare", "Sunscreen"), "Sunscreen SPF50", (5, 39), (0.50, 0.70), True),
    Leaf(("Beauty", "Fragrance", "Perfume"), "Eau de Parfum", (25, 199), (0.55, 0.75)),
    Leaf(("Beauty", "Hair", "Shampoo"), "Shampoo", (3, 29), (0.50, 0.70), True),
    Leaf(("Beauty", "Hair", "Conditioner"), "Conditioner", (3, 29), (0.50, 0.70), True),
    Leaf(("Books", "Fiction", "Novels"), "Novel", (7, 29), (0.25, 0.40)),
    Leaf(("Books", "Non-fiction", "Cookbooks"), "Cookbook", (12, 49), (0.25, 0.40)),
    Leaf(("Books", "Children", "Picture Books"), "Picture Book", (6, 24), (0.25, 0.40)),
    Leaf(("Toys", "Building", "Building Sets"), "Building Set", (9, 299), (0.30, 0.50)),
    Leaf(("Toys", "Games", "Board Games"), "Board Game", (15, 89), (0.35, 0.55)),
    Leaf(("Toys", "Outdoor", "Water Guns"), "Water Blaster", (5, 39), (0.45, 0.65)),
    Leaf(("Gift Cards", "Digital", "Gift Cards"), "Gift Card", (5, 100), (0.0, 0.02)),
)  # fmt: skip

GIFT_CARD_DENOMINATIONS_EUR: tuple[int, ...] = (5, 10, 25, 50, 100)

# Leaf → leaves bought with it. These affinities are what basket analysis should rediscover.
COMPLEMENTS: dict[str, tuple[str, ...]] = {
    "Smartphones": ("Phone Cases", "Chargers"),
    "Digital Cameras": ("Memory Cards",),
    "Laptops": ("Laptop Bags", "Mice"),
    "Keyboards": ("Mice",),
    "Printers": ("Ink",),
    "Coffee Machines": ("Coffee Beans",),
    "Pans": ("Knives",),
    "Grills": ("BBQ Tools",),
    "Running Shoes": ("Running Socks",),
    "Bikes": ("Bike Helmets",),
    "Dresses": ("Handbags",),
    "Shirts": ("Ties",),
    "Shampoo": ("Conditioner",),
}

MODEL_WORDS: tuple[str, ...] = (
    "Pro", "Air", "Max", "Lite", "One", "Neo", "Classic", "Sport", "Plus", "Go", "Ultra", "Mini",
)  # fmt: skip

D = common_pb2
DEVICE_KINDS: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
    D.DEVICE_TYPE_DESKTOP: (
        ("Windows 11", "Windows 10", "macOS 15", "macOS 14", "Ubuntu 24.04"),
        (
            "Mozilla/5.0 Chrome/131.0 Safari/537.36",
            "Mozilla/5.0 Firefox/133.0",
            "Mozilla/5.0 Version/18.1 Safari/605.1.15",
            "Mozilla/5.0 Chrome/131.0 Safari/537.36 Edg/131.0",
        ),
    ),
    D.DEVICE_TYPE_MOBILE: (
        ("iOS 18", "iOS 17", "Android 15", "Android 14"),
        (
            "Mozilla/5.0 Version/18.1 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 Chrome/131.0 Mobile Safari/537.36",
            "Mozilla/5.0 SamsungBrowser/26.0 Mobile Safari/537.36",
        ),
    ),
    D.DEVICE_TYPE_TABLET: (
        ("iPadOS 18", "Android 14"),
        ("Mozilla/5.0 Version/18.1 Mobile/15E148 Safari/604.1", "Mozilla/5.0 Chrome/131.0"),
    ),
    D.DEVICE_TYPE_APP: (
        ("iOS 18", "Android 15"),
        ("ECAPShop-iOS/5.2.0", "ECAPShop-Android/5.2.0"),
    ),
}
DEVICE_TYPE_SHARES: dict[int, float] = {
    D.DEVICE_TYPE_MOBILE: 0.50,
    D.DEVICE_TYPE_DESKTOP: 0.30,
    D.DEVICE_TYPE_APP: 0.12,
    D.DEVICE_TYPE_TABLET: 0.08,
}

CHANNELS: tuple[int, ...] = (
    D.CHANNEL_DIRECT, D.CHANNEL_ORGANIC_SEARCH, D.CHANNEL_PAID_SEARCH, D.CHANNEL_SOCIAL,
    D.CHANNEL_EMAIL, D.CHANNEL_AFFILIATE, D.CHANNEL_DISPLAY, D.CHANNEL_REFERRAL,
)  # fmt: skip
# Awareness channels open journeys, closing channels finish them: the reason first-touch and
# last-touch attribution disagree on real shops, and on this one.
DISCOVERY_CHANNEL_WEIGHTS: tuple[float, ...] = (0.20, 0.22, 0.12, 0.18, 0.08, 0.05, 0.10, 0.05)
CLOSING_CHANNEL_WEIGHTS: tuple[float, ...] = (0.30, 0.15, 0.20, 0.04, 0.18, 0.08, 0.02, 0.03)
ACQUISITION_CHANNEL_WEIGHTS: tuple[float, ...] = (0.15, 0.25, 0.20, 0.15, 0.03, 0.10, 0.07, 0.05)


@dataclass(frozen=True, slots=True)
class ChannelUtm:
    """How a channel's touchpoints are tagged."""

    sources: tuple[str, ...]
    medium: str
    campaigns: tuple[str, ...]


UTM: dict[int, ChannelUtm] = {
    D.CHANNEL_ORGANIC_SEARCH: ChannelUtm(("google", "bing", "duckduckgo"), "organic", ("",)),
    D.CHANNEL_PAID_SEARCH: ChannelUtm(("google", "bing"), "cpc", ("brand-search", "generic")),
    D.CHANNEL_SOCIAL: ChannelUtm(
        ("facebook", "instagram", "tiktok", "pinterest"), "paid_social", ("inspiration", "ugc")
    ),
    D.CHANNEL_EMAIL: ChannelUtm(
        ("newsletter", "crm"), "email", ("weekly-newsletter", "recommendations", "win-back")
    ),
    D.CHANNEL_AFFILIATE: ChannelUtm(
        ("dealfinder", "cashbackhub", "techreviews"), "affiliate", ("partner-deals",)
    ),
    D.CHANNEL_DISPLAY: ChannelUtm(("gdn", "criteo"), "display", ("prospecting", "retargeting")),
    D.CHANNEL_REFERRAL: ChannelUtm(
        ("reddit.com", "blog.example.org", "forum.example.net"), "referral", ("",)
    ),
}

SHOP_URL = "https://shop.ecap.example"
