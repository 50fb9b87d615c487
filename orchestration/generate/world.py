"""The fixed demo world: countries, regions, cities, stores, catalogue, campaigns, name pools.

Faker is only used here, to build small pools (names, streets, companies, job titles); every
per-record choice elsewhere is a vectorised numpy draw from these pools.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import numpy as np
from faker import Faker

from ._util import DAY, END, HOUR, START, obj, zfill_ints


@dataclass(frozen=True)
class Country:
    code: str
    currency: str
    calling_code: str  # "+44"
    locale: str  # Faker locale
    url_locale: str  # path prefix on the web shop
    price_factor: float  # catalogue prices are in GBP; local price = GBP * factor
    domains: tuple[str, ...]  # consumer mail domains, most common first
    domain_weights: tuple[float, ...]


COUNTRIES: list[Country] = [
    Country(
        "GB",
        "GBP",
        "+44",
        "en_GB",
        "en-gb",
        1.0,
        (
            "gmail.com",
            "hotmail.co.uk",
            "outlook.com",
            "yahoo.co.uk",
            "btinternet.com",
            "icloud.com",
            "googlemail.com",
            "sky.com",
        ),
        (0.36, 0.16, 0.14, 0.1, 0.07, 0.08, 0.04, 0.05),
    ),
    Country(
        "PL",
        "PLN",
        "+48",
        "pl_PL",
        "pl-pl",
        5.0,
        ("gmail.com", "wp.pl", "onet.pl", "o2.pl", "interia.pl", "outlook.com"),
        (0.42, 0.18, 0.14, 0.1, 0.1, 0.06),
    ),
    Country(
        "DE",
        "EUR",
        "+49",
        "de_DE",
        "de-de",
        1.17,
        ("gmail.com", "gmx.de", "web.de", "t-online.de", "outlook.com", "icloud.com"),
        (0.3, 0.22, 0.2, 0.12, 0.09, 0.07),
    ),
]
COUNTRY_CODES = [c.code for c in COUNTRIES]


@dataclass(frozen=True)
class City:
    name: str
    lat: float
    lon: float
    postcode_prefixes: tuple[str, ...]  # GB outward codes / PL 2-digit / DE 5-digit range starts


@dataclass(frozen=True)
class Region:
    name: str
    country: int  # index into COUNTRIES
    weight: float  # share of the population
    cities: tuple[City, ...]
    temp_mean: float
    temp_amp: float
    rain_p: float
    club: str  # the local football club whose home matches drive 'event_tickets' sales


REGIONS: list[Region] = [
    Region(
        "London",
        0,
        0.19,
        (
            City(
                "London",
                51.5072,
                -0.1276,
                ("E1", "E2", "E14", "N1", "N7", "SE1", "SE15", "SW1A", "SW11", "W1", "W2", "NW1", "NW3"),
            ),
        ),
        11.8,
        7.0,
        0.44,
        "Thames United",
    ),
    Region(
        "North West",
        0,
        0.12,
        (
            City("Manchester", 53.4808, -2.2426, ("M1", "M4", "M14", "M20", "M21")),
            City("Liverpool", 53.4084, -2.9916, ("L1", "L8", "L15", "L17")),
        ),
        10.2,
        6.5,
        0.55,
        "Mersey Rovers",
    ),
    Region(
        "Scotland",
        0,
        0.08,
        (
            City("Edinburgh", 55.9533, -3.1883, ("EH1", "EH3", "EH6", "EH10")),
            City("Glasgow", 55.8642, -4.2518, ("G1", "G3", "G12", "G41")),
        ),
        9.0,
        6.0,
        0.6,
        "Forth Athletic",
    ),
    Region(
        "Mazowieckie",
        1,
        0.15,
        (
            City("Warszawa", 52.2297, 21.0122, ("00", "01", "02", "03", "04")),
            City("Radom", 51.4027, 21.1471, ("26",)),
        ),
        8.6,
        10.0,
        0.4,
        "KS Wisła Mazowsze",
    ),
    Region(
        "Małopolskie",
        1,
        0.1,
        (
            City("Kraków", 50.0647, 19.945, ("30", "31")),
            City("Tarnów", 50.0121, 20.9858, ("33",)),
        ),
        8.7,
        10.0,
        0.45,
        "Wawel Kraków",
    ),
    Region(
        "Pomorskie",
        1,
        0.07,
        (
            City("Gdańsk", 54.352, 18.6466, ("80",)),
            City("Gdynia", 54.5189, 18.5305, ("81",)),
        ),
        8.4,
        8.5,
        0.43,
        "Bałtyk Gdańsk",
    ),
    Region(
        "Berlin",
        2,
        0.12,
        (City("Berlin", 52.52, 13.405, ("10", "12", "13")),),
        10.3,
        9.5,
        0.42,
        "FC Spree Berlin",
    ),
    Region(
        "Bayern",
        2,
        0.17,
        (
            City("München", 48.1351, 11.582, ("80", "81")),
            City("Nürnberg", 49.4521, 11.0767, ("90",)),
            City("Augsburg", 48.3705, 10.8978, ("86",)),
        ),
        9.1,
        9.5,
        0.47,
        "SV Isar München",
    ),
]
REGION_COUNTRY = np.array([r.country for r in REGIONS], dtype=np.int64)

# (city, region index, store name suffix); two to four stores per region.
_STORE_SPECS: list[tuple[str, int, str]] = [
    ("London", 0, "Oxford Street"),
    ("London", 0, "Covent Garden"),
    ("London", 0, "Westfield Stratford"),
    ("London", 0, "Canary Wharf"),
    ("Manchester", 1, "Arndale"),
    ("Manchester", 1, "Trafford Centre"),
    ("Liverpool", 1, "Liverpool ONE"),
    ("Edinburgh", 2, "Princes Street"),
    ("Glasgow", 2, "Buchanan Street"),
    ("Warszawa", 3, "Złote Tarasy"),
    ("Warszawa", 3, "Arkadia"),
    ("Radom", 3, "Galeria Słoneczna"),
    ("Kraków", 4, "Galeria Krakowska"),
    ("Tarnów", 4, "Gemini Park"),
    ("Gdańsk", 5, "Forum Gdańsk"),
    ("Gdynia", 5, "Riviera"),
    ("Berlin", 6, "Alexanderplatz"),
    ("Berlin", 6, "Kurfürstendamm"),
    ("München", 7, "Marienplatz"),
    ("Nürnberg", 7, "Königstraße"),
    ("Augsburg", 7, "City-Galerie"),
]


@dataclass(frozen=True)
class Store:
    store_id: str
    name: str
    city: str
    region: int
    lat: float
    lon: float


def build_stores(rng: np.random.Generator) -> list[Store]:
    city_pos = {c.name: (c.lat, c.lon) for r in REGIONS for c in r.cities}
    stores = []
    for i, (city, region, suffix) in enumerate(_STORE_SPECS):
        lat, lon = city_pos[city]
        jitter = rng.normal(0, 0.02, 2)
        stores.append(
            Store(
                f"ST{i + 1:03d}",
                f"Tessera {city} {suffix}",
                city,
                region,
                round(lat + float(jitter[0]), 5),
                round(lon + float(jitter[1]), 5),
            )
        )
    return stores


CATEGORIES = ["apparel", "footwear", "accessories", "home", "beauty", "electronics", "event_tickets"]
# (adjectives, nouns, min GBP, max GBP, popularity)
_CATALOGUE_SPEC: dict[str, tuple[list[str], list[str], float, float, float]] = {
    "apparel": (
        ["Classic", "Organic", "Relaxed", "Slim", "Merino", "Linen", "Oversized", "Everyday"],
        ["T-Shirt", "Hoodie", "Jeans", "Chinos", "Shirt", "Dress", "Jacket", "Jumper", "Coat"],
        12,
        140,
        0.3,
    ),
    "footwear": (
        ["Trail", "Leather", "Canvas", "Running", "Chelsea", "Court"],
        ["Trainers", "Boots", "Sneakers", "Sandals", "Loafers"],
        35,
        160,
        0.16,
    ),
    "accessories": (
        ["Leather", "Woven", "Recycled", "Minimal", "Vintage"],
        ["Belt", "Wallet", "Backpack", "Scarf", "Cap", "Sunglasses", "Tote Bag"],
        8,
        90,
        0.16,
    ),
    "home": (
        ["Ceramic", "Oak", "Linen", "Stoneware", "Scented", "Woollen"],
        ["Mug", "Candle", "Throw", "Cushion", "Vase", "Serving Board", "Lamp"],
        6,
        120,
        0.14,
    ),
    "beauty": (
        ["Hydrating", "Botanical", "Daily", "Repair", "Citrus"],
        ["Face Cream", "Shampoo", "Body Wash", "Serum", "Lip Balm", "Hand Cream"],
        4,
        60,
        0.13,
    ),
    "electronics": (
        ["Wireless", "Portable", "Smart", "Noise-Cancelling", "Compact"],
        ["Headphones", "Speaker", "Charger", "Power Bank", "Fitness Tracker", "Earbuds"],
        15,
        250,
        0.11,
    ),
}


@dataclass
class Catalogue:
    product_id: np.ndarray  # object
    name: np.ndarray  # object
    category: np.ndarray  # object
    category_idx: np.ndarray  # int64
    price_cents: np.ndarray  # (n_products, n_countries) int64, local currency
    popularity: np.ndarray  # float, sums to 1 over non-ticket products
    ticket_product: np.ndarray  # per region: index of its match-ticket product


def build_catalogue(rng: np.random.Generator) -> Catalogue:
    ids, names, cats, gbp, pop = [], [], [], [], []
    n = 0
    for cat, (adjs, nouns, lo, hi, share) in _CATALOGUE_SPEC.items():
        combos = [(a, b) for a in adjs for b in nouns]
        # Zipf-like popularity inside the category.
        w = 1.0 / np.arange(1, len(combos) + 1) ** 0.8
        w = w / w.sum() * share
        for (a, b), wi in zip(combos, w, strict=True):
            n += 1
            ids.append(f"SKU-{10000 + n * 7:05d}")
            names.append(f"{a} {b}")
            cats.append(cat)
            gbp.append(float(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
            pop.append(float(wi))
    ticket_product = []
    for r in REGIONS:
        n += 1
        ticket_product.append(len(ids))
        ids.append(f"TKT-{10000 + n * 7:05d}")
        names.append(f"Matchday ticket – {r.club}")
        cats.append("event_tickets")
        gbp.append(42.0)
        pop.append(0.0)
    gbp_a = np.array(gbp)
    prices = np.zeros((len(ids), len(COUNTRIES)), dtype=np.int64)
    for ci, c in enumerate(COUNTRIES):
        local = gbp_a * c.price_factor
        # Retail-style prices: x.99 / x9.99.
        if c.price_factor >= 4:
            prices[:, ci] = np.maximum(np.round(local / 10), 1).astype(np.int64) * 1000 - 1
        else:
            prices[:, ci] = np.floor(local).astype(np.int64) * 100 + 99
    prices = np.maximum(prices, 99)
    p = np.array(pop)
    return Catalogue(
        obj(ids),
        obj(names),
        obj(cats),
        np.array([CATEGORIES.index(c) for c in cats]),
        prices,
        p / p.sum(),
        np.array(ticket_product),
    )


def match_days(region: int) -> np.ndarray:
    """Home-match Saturdays (microseconds, 15:00) of a region's club: every other week, Aug..mid-May."""
    first_sat = START + ((5 - 0) % 7) * DAY  # 2024-01-01 is a Monday, so +5 days is Saturday
    sats = np.arange(first_sat, END, 7 * DAY)
    weeks = (sats - first_sat) // (7 * DAY)
    months = sats.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64) % 12
    day = (
        sats.astype("datetime64[us]").astype("datetime64[D]")
        - sats.astype("datetime64[us]").astype("datetime64[M]").astype("datetime64[D]")
    ).astype(np.int64)
    in_season = (months >= 7) | (months <= 3) | ((months == 4) & (day < 18))
    home = (weeks + region) % 2 == 0
    return sats[in_season & home] + 15 * HOUR


@dataclass
class Campaign:
    campaign_id: str
    name: str
    country: int
    sent_at: int
    url: str


_THEMES = [
    "January Sale",
    "Valentine's Edit",
    "Spring Collection",
    "Easter Gifts",
    "May Long Weekend",
    "Summer Essentials",
    "Summer Sale",
    "Back to School",
    "Autumn Edit",
    "Matchday Specials",
    "Black Friday",
    "Christmas Gifts",
]


def build_campaigns() -> list[Campaign]:
    """One newsletter per country per week (Tuesdays 09:00), plus a Black Friday blast."""
    out: list[Campaign] = []
    tuesday = START + 1 * DAY + 9 * HOUR
    for ci, c in enumerate(COUNTRIES):
        for k, t in enumerate(range(tuesday, END - DAY, 7 * DAY)):
            d = np.datetime64(t, "us").astype("datetime64[D]").item()
            theme = _THEMES[d.month - 1]
            slug = theme.lower().replace("'", "").replace(" ", "-")
            cid = f"cmp_{c.code.lower()}_{d.year}{d.isocalendar()[1]:02d}"
            url = (
                f"https://shop.tessera.example/{c.url_locale}/edit/{slug}?utm_source=newsletter&"
                f"utm_medium=email&utm_campaign={cid}"
            )
            out.append(
                Campaign(
                    cid,
                    f"{theme} {d.year} – week {d.isocalendar()[1]} ({c.code})",
                    ci,
                    t + (k % 3) * 10 * 60 * 1_000_000,
                    url,
                )
            )
    return out


# Web campaigns (UTM parameters on sessions): (source, medium, name)
WEB_CAMPAIGNS: list[tuple[str, str, str]] = [
    ("google", "cpc", "brand_search"),
    ("google", "cpc", "generic_trainers"),
    ("google", "cpc", "pmax_home"),
    ("facebook", "paid_social", "summer_sale"),
    ("facebook", "paid_social", "retargeting_cart"),
    ("instagram", "paid_social", "new_in"),
    ("tiktok", "paid_social", "ugc_creators"),
    ("newsletter", "email", "weekly_newsletter"),
    ("awin", "affiliate", "cashback"),
    ("bing", "cpc", "brand_search"),
]
WEB_CAMPAIGN_WEIGHTS = [0.22, 0.1, 0.06, 0.1, 0.12, 0.1, 0.06, 0.14, 0.06, 0.04]

USER_AGENTS: dict[str, list[str]] = {
    "desktop": [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
        "Safari/537.36",
    ],
    "mobile": [
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 "
        "Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Mobile Safari/537.36",
    ],
    "tablet": [
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
        "Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        "Safari/537.36",
    ],
    "analytics-ios": [
        "Tessera/4.12.0 (iPhone; iOS 17.5; Scale/3.00)",
        "Tessera/4.9.2 (iPhone; iOS 16.7; Scale/3.00)",
    ],
    "analytics-android": [
        "Tessera/4.12.0 (Linux; Android 14; Pixel 8)",
        "Tessera/4.10.1 (Linux; Android 13; SM-A546B)",
    ],
    "kiosk": [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
        "Safari/537.36 TesseraKiosk/2.1"
    ],
}

# All user agents in one list (devices store an index into it).
UA_LIST: list[str] = [ua for key in USER_AGENTS for ua in USER_AGENTS[key]]
UA_OFFSET: dict[str, int] = {
    key: int(off)
    for key, off in zip(USER_AGENTS, np.cumsum([0] + [len(v) for v in USER_AGENTS.values()]), strict=False)
}

JUNK_EMAILS = [
    "test@test.com",
    "asdf@asdf.com",
    "noreply@tessera.example",
    "n/a",
    "unknown",
    "",
    "none@none.com",
    "no-reply@example.com",
    "x@x.com",
    "NA",
]
JUNK_PHONES = ["0000000000", "n/a", "unknown", "", "1234567890", "+440000000000", "000", "NA"]
JUNK_NAMES = ["Test", "n/a", "unknown", "", "xxx", "Customer", "asdf"]

# Formal name -> nicknames used in some records.
NICKNAMES: dict[str, list[str]] = {
    "William": ["Bill", "Will", "Billy"],
    "Katherine": ["Kate", "Katie", "Kath"],
    "Robert": ["Bob", "Rob"],
    "Elizabeth": ["Liz", "Beth", "Lizzie"],
    "James": ["Jim", "Jamie"],
    "Michael": ["Mike", "Mick"],
    "Thomas": ["Tom", "Tommy"],
    "Margaret": ["Maggie", "Peggy"],
    "Jennifer": ["Jen", "Jenny"],
    "Richard": ["Rich", "Dick"],
    "Alexander": ["Alex", "Sandy"],
    "Christopher": ["Chris"],
    "Daniel": ["Dan", "Danny"],
    "Rebecca": ["Becky", "Becca"],
    "Samantha": ["Sam"],
    "Victoria": ["Vicky", "Tori"],
    "Jonathan": ["Jon", "Jonny"],
    "Edward": ["Ed", "Eddie", "Ted"],
    "Catherine": ["Cathy", "Kate"],
    "Anthony": ["Tony"],
    "Matthew": ["Matt"],
    "Aleksander": ["Olek", "Alek"],
    "Katarzyna": ["Kasia"],
    "Małgorzata": ["Gosia", "Małgosia"],
    "Tomasz": ["Tomek"],
    "Krzysztof": ["Krzysiek"],
    "Wojciech": ["Wojtek"],
    "Piotr": ["Piotrek"],
    "Agnieszka": ["Aga", "Agnisia"],
    "Magdalena": ["Magda"],
    "Joanna": ["Asia"],
    "Aleksandra": ["Ola"],
    "Michał": ["Michu"],
    "Jakub": ["Kuba"],
    "Barbara": ["Basia"],
    "Elżbieta": ["Ela"],
    "Johannes": ["Hannes", "Jo"],
    "Wolfgang": ["Wolf"],
    "Katharina": ["Kathi", "Kati"],
    "Elisabeth": ["Lisa", "Elli"],
    "Christian": ["Chris"],
    "Stefanie": ["Steffi"],
    "Andreas": ["Andi"],
    "Alexandra": ["Alex"],
    "Susanne": ["Susi"],
    "Maximilian": ["Max"],
    "Friedrich": ["Fritz"],
}
# Formal names by (country, female) that are always in the pools so nickname noise has something to bite on.
_FORMAL: dict[tuple[int, bool], list[str]] = {
    (0, False): [
        "William",
        "Robert",
        "James",
        "Michael",
        "Thomas",
        "Richard",
        "Alexander",
        "Christopher",
        "Daniel",
        "Jonathan",
        "Edward",
        "Anthony",
        "Matthew",
    ],
    (0, True): [
        "Katherine",
        "Elizabeth",
        "Margaret",
        "Jennifer",
        "Rebecca",
        "Samantha",
        "Victoria",
        "Catherine",
    ],
    (1, False): ["Aleksander", "Tomasz", "Krzysztof", "Wojciech", "Piotr", "Michał", "Jakub"],
    (1, True): [
        "Katarzyna",
        "Małgorzata",
        "Agnieszka",
        "Magdalena",
        "Joanna",
        "Aleksandra",
        "Barbara",
        "Elżbieta",
    ],
    (2, False): ["Johannes", "Wolfgang", "Christian", "Andreas", "Maximilian", "Friedrich", "Alexander"],
    (2, True): ["Katharina", "Elisabeth", "Stefanie", "Alexandra", "Susanne"],
}

_GB_STREET_STEMS = [
    "High",
    "Church",
    "Station",
    "Victoria",
    "Park",
    "Mill",
    "Queen's",
    "King's",
    "Green",
    "Manor",
    "School",
    "Albert",
    "Grange",
    "North",
    "South",
    "Chapel",
    "Windsor",
    "York",
    "Springfield",
    "Highfield",
    "Mount Pleasant",
    "Beech",
    "Oak",
    "Elm",
    "Cedar",
    "Orchard",
    "Meadow",
    "New",
    "Market",
    "Bridge",
    "Castle",
    "Alexandra",
    "Stanley",
    "Clarence",
    "Kingsway",
    "Riverside",
]
_GB_STREET_SUFFIX = [
    "Street",
    "Road",
    "Lane",
    "Avenue",
    "Close",
    "Gardens",
    "Drive",
    "Way",
    "Crescent",
    "Place",
]
STREET_ABBREVIATIONS: list[tuple[str, str]] = [
    (" Street", " St"),
    (" Road", " Rd"),
    (" Avenue", " Ave"),
    (" Lane", " Ln"),
    (" Drive", " Dr"),
    (" Crescent", " Cres"),
    (" Place", " Pl"),
    (" Gardens", " Gdns"),
    (" Close", " Cl"),
    ("straße", "str."),
    ("Straße", "Str."),
    ("ul. ", ""),
    ("aleja ", "al. "),
]

_TRANSLIT = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "ø": "o", "æ": "ae"})
_GERMAN_UMLAUT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def ascii_fold(s: str, german: bool = False) -> str:
    """Łukasz -> Lukasz, Jürgen -> Jurgen (or Juergen with german=True)."""
    if german:
        s = s.translate(_GERMAN_UMLAUT)
    s = s.translate(_TRANSLIT)
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()


def email_local(s: str) -> str:
    """A name as it would appear in an email local part: ASCII, lower case, no spaces or apostrophes."""
    s = ascii_fold(s, german=True).lower()
    return "".join(ch for ch in s if ch.isalnum() or ch in ".-")


def female_surname(surname: str, country: int) -> str:
    """Polish surnames inflect for gender: Kowalski -> Kowalska."""
    if country == 1 and surname.endswith(("ski", "cki", "dzki")):
        return surname[:-1] + "a"
    return surname


@dataclass
class Pools:
    """Per-country pools (lists may repeat values: uniform draws then follow Faker's own frequencies)."""

    first_male: list[np.ndarray] = field(default_factory=list)
    first_female: list[np.ndarray] = field(default_factory=list)
    last: list[np.ndarray] = field(default_factory=list)  # male/neutral form
    last_female: list[np.ndarray] = field(default_factory=list)
    street: list[np.ndarray] = field(default_factory=list)
    company: list[np.ndarray] = field(default_factory=list)
    job: list[np.ndarray] = field(default_factory=list)


def build_pools(seed: int, size: int = 2500) -> Pools:
    pools = Pools()
    for ci, c in enumerate(COUNTRIES):
        fk = Faker(c.locale)
        fk.seed_instance(seed * 31 + ci)
        males = [fk.first_name_male() for _ in range(size)] + _FORMAL[(ci, False)] * (size // 60)
        females = [fk.first_name_female() for _ in range(size)] + _FORMAL[(ci, True)] * (size // 60)
        lasts = [fk.last_name_male() if ci == 1 else fk.last_name() for _ in range(size)]
        lasts = [s for s in lasts if " " not in s] or lasts
        if ci == 0:
            stems = _GB_STREET_STEMS + [fk.last_name() for _ in range(60)]
            streets = [
                f"{stems[i % len(stems)]} {_GB_STREET_SUFFIX[(i * 7) % len(_GB_STREET_SUFFIX)]}"
                for i in range(size // 2)
            ]
        elif ci == 1:
            streets = [f"{'aleja' if i % 12 == 0 else 'ul.'} {fk.street_name()}" for i in range(size // 2)]
        else:
            streets = [fk.street_name() for _ in range(size // 2)]
        pools.first_male.append(obj(males))
        pools.first_female.append(obj(females))
        pools.last.append(obj(lasts))
        pools.last_female.append(obj([female_surname(s, ci) for s in lasts]))
        pools.street.append(obj(streets))
        pools.company.append(obj([fk.company() for _ in range(size // 4)]))
        pools.job.append(obj([fk.job() for _ in range(size // 4)]))
    return pools


def random_postcodes(rng: np.random.Generator, country: int, prefixes: np.ndarray) -> np.ndarray:
    """Postcodes in the national format for the given per-record prefixes (object array)."""
    n = len(prefixes)
    if country == 0:
        letters = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)
        digit = rng.integers(1, 10, n).astype(str).astype(object)
        return prefixes + " " + digit + letters[rng.integers(0, 20, n)] + letters[rng.integers(0, 20, n)]
    if country == 1:
        b = zfill_ints(rng.integers(1, 1000, n), 3)
        return prefixes + "-" + b
    return prefixes + zfill_ints(rng.integers(0, 1000, n), 3)
