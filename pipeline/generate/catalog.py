"""The product catalogue: ids, categories (19-digit ids), brands, prices and popularity.

Everything here is per product, so per-event work is only integer gathers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.generate import calibration as cal

# Brand names seen in the public data set's sample rows; more are made up to reach N_BRANDS.
REAL_BRANDS = [
    "runail",
    "irisk",
    "masura",
    "grattol",
    "ingarden",
    "bpw.style",
    "uno",
    "estel",
    "cnd",
    "zinger",
    "kapous",
    "pole",
    "haruyama",
    "jessnail",
    "italwax",
    "pnb",
    "freedecor",
    "concept",
    "bluesky",
    "milv",
    "domix",
    "uskusi",
    "staleks",
    "oniq",
    "lianail",
    "severina",
    "roubloff",
    "f.o.x",
    "yoko",
    "lovely",
    "cosmoprofi",
    "airnails",
    "entity",
    "sunuv",
    "nagaraku",
    "metzger",
    "max",
    "kaaral",
    "browxenna",
    "shik",
    "nitrimax",
    "levrana",
    "kosmekka",
    "de.lux",
    "beautix",
    "swarovski",
    "solomeya",
    "depilflax",
    "strong",
    "siberina",
    "orly",
    "matrix",
    "kinetics",
    "i-laq",
    "farmstay",
    "art-visage",
    "smart",
    "skinlite",
    "provoc",
    "profhenna",
    "polarus",
    "markell",
    "marathon",
    "lador",
    "igrobeauty",
    "emil",
    "elskin",
    "bodyton",
    "bioaqua",
    "beauty-free",
    "artex",
    "thuya",
    "tertio",
    "shary",
    "petitfee",
    "limoni",
    "konad",
    "kiss",
    "happyfons",
    "ecolab",
    "dizao",
    "biofollica",
    "bespecial",
    "ardell",
    "vilenta",
    "trind",
    "treaclemoon",
    "tazol",
    "sophin",
    "soleo",
    "rosi",
    "plazan",
    "philips",
    "osmo",
    "nirvel",
    "neoleor",
    "nefertiti",
    "missha",
    "miskin",
    "mielle",
    "mavala",
    "lsanic",
    "levissime",
    "lebelage",
    "lamixx",
    "lakme",
    "laboratorium",
    "koelf",
    "kims",
    "keen",
    "jas",
    "jaguar",
    "insight",
    "helloganic",
    "gehwol",
    "freshbubble",
    "farmona",
    "farmavita",
    "eunyul",
    "ellips",
    "elizavecca",
    "deoproce",
    "cutrin",
    "cristalinas",
    "candy",
    "bergamo",
    "beautyblender",
    "almea",
]
CATEGORY_CODES = (
    "appliances.environment.vacuum",
    "stationery.cartrige",
    "apparel.glove",
    "furniture.living_room.cabinet",
    "accessories.bag",
    "accessories.cosmetic_bag",
    "furniture.bathroom.bath",
    "appliances.personal.hair_cutter",
    "appliances.environment.air_conditioner",
    "furniture.living_room.chair",
    "sport.diving",
    "furniture.bathroom.toilet",
    "appliances.environment.fan",
)
_SYLLABLES = np.array(
    [
        "ka",
        "ri",
        "mo",
        "la",
        "ne",
        "su",
        "to",
        "vi",
        "de",
        "pa",
        "lu",
        "zo",
        "be",
        "ma",
        "ni",
        "ra",
        "so",
        "fe",
        "li",
        "co",
    ]
)


@dataclass(frozen=True)
class Catalog:
    """Per-product arrays (index = product index) and the string tables they point into."""

    product_id: np.ndarray  # int64, unique
    category: np.ndarray  # int32 index into category_id
    alt_category: np.ndarray  # int32; -1 = never re-categorised
    brand: np.ndarray  # int32 index into brands; -1 = null brand
    alt_brand: np.ndarray  # int32; -2 = no brand change (-1 = becomes null)
    switch_month: np.ndarray  # int8: month index from which alt_* apply
    price: np.ndarray  # float64, two decimals
    popularity: np.ndarray  # float64, sums to 1
    category_id: np.ndarray  # int64, 19 digits
    category_code: list[str | None]
    brands: list[str]

    @property
    def size(self) -> int:
        return len(self.product_id)


def catalog_size(scale: float) -> int:
    """Products shrink with sqrt(scale): a small sample still sees a realistic assortment."""
    return max(200, round(cal.TOTAL_PRODUCTS * min(scale, 1.0) ** 0.5))


def _prefix_share(rng: np.random.Generator, weights: np.ndarray, share: float) -> np.ndarray:
    """Mark a random set of items whose summed weight is `share` of the total (in expectation)."""
    order = rng.permutation(len(weights))
    cum = np.cumsum(weights[order]) / weights.sum()
    marked = np.zeros(len(weights), dtype=bool)
    marked[order[: int(np.searchsorted(cum, share)) + 1]] = True
    return marked


def _brand_names(rng: np.random.Generator) -> list[str]:
    extra = cal.N_BRANDS - len(REAL_BRANDS)
    parts = rng.choice(_SYLLABLES, size=(extra, 3))
    made_up = sorted({"".join(p) for p in parts} - set(REAL_BRANDS))
    return [*REAL_BRANDS, *made_up]


def _category_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """19-digit ids: most share the real set's 1487580… prefix, the rest spread wider."""
    prefixed = 1_487_580_000_000_000_000 + rng.integers(0, 10**13, size=n)
    spread = rng.integers(1_600_000_000_000_000_000, 2_300_000_000_000_000_000, size=n)
    return np.where(rng.random(n) < 0.8, prefixed, spread)  # 525 draws in 10^13: no clashes


def _prices(rng: np.random.Generator, n: int) -> np.ndarray:
    """Three kinds of goods: samples and tips, the everyday bulk, devices and sets."""
    mix = cal.PRICE_MIX
    kind = np.searchsorted(
        np.cumsum([w for w, _, _ in mix]), rng.random(n) * sum(w for w, _, _ in mix)
    )
    medians = np.array([m for _, m, _ in mix])[kind]
    sigmas = np.array([s for _, _, s in mix])[kind]
    price = rng.lognormal(np.log(medians), sigmas)
    return np.clip(np.round(price, 2), 0.05, 327.78)


def build_catalog(scale: float, seed: int) -> Catalog:
    rng = np.random.default_rng([seed, 7])
    n = catalog_size(scale)
    small = rng.random(n) < 0.05
    ids = np.where(
        small,
        3_700 + rng.integers(0, 56_000, size=n),
        5_000_000 + rng.integers(0, 932_595, size=n),
    )
    ids = np.unique(ids)
    while len(ids) < n:  # collisions are rare; top up deterministically
        ids = np.unique(np.concatenate([ids, 5_000_000 + rng.integers(0, 932_595, n - len(ids))]))
    ids = rng.permutation(ids[:n])

    ranks = rng.permutation(n)
    popularity = 1.0 / (ranks + cal.PRODUCT_ZIPF_OFFSET) ** cal.PRODUCT_ZIPF_EXPONENT
    popularity /= popularity.sum()

    cat_weights = 1.0 / np.arange(1, cal.N_CATEGORIES + 1) ** 1.1
    category = rng.choice(cal.N_CATEGORIES, size=n, p=cat_weights / cat_weights.sum())
    category_id = _category_ids(rng, cal.N_CATEGORIES)
    cat_event_weight = np.bincount(category, weights=popularity, minlength=cal.N_CATEGORIES)
    coded = _prefix_share(rng, cat_event_weight + 1e-12, 1 - cal.NULL_CATEGORY_CODE_SHARE)
    codes = rng.choice(len(CATEGORY_CODES), size=cal.N_CATEGORIES)
    category_code = [CATEGORY_CODES[c] if k else None for c, k in zip(codes, coded, strict=True)]

    brands = _brand_names(rng)
    brand_weights = 1.0 / np.arange(1, len(brands) + 1) ** 1.2
    brand = rng.choice(len(brands), size=n, p=brand_weights / brand_weights.sum())
    brand = np.where(_prefix_share(rng, popularity, cal.NULL_BRAND_SHARE), -1, brand)

    # Re-categorised / re-branded products: the change applies from a random month on.
    frac = n / cal.TOTAL_PRODUCTS
    alt_category = np.full(n, -1, dtype=np.int32)
    moved = rng.choice(n, size=round(cal.MULTI_CATEGORY_PRODUCTS * frac), replace=False)
    alt_category[moved] = rng.integers(0, cal.N_CATEGORIES, size=len(moved))
    alt_brand = np.full(n, -2, dtype=np.int32)
    rebranded = rng.choice(n, size=max(1, round(cal.MULTI_BRAND_PRODUCTS * frac)), replace=False)
    alt_brand[rebranded] = np.where(
        brand[rebranded] < 0, rng.integers(0, len(brands), len(rebranded)), -1
    )
    switch_month = rng.integers(1, 5, size=n).astype(np.int8)

    return Catalog(
        product_id=ids.astype(np.int64),
        category=category.astype(np.int32),
        alt_category=alt_category,
        brand=brand.astype(np.int32),
        alt_brand=alt_brand,
        switch_month=switch_month,
        price=_prices(rng, n),
        popularity=popularity,
        category_id=category_id.astype(np.int64),
        category_code=category_code,
        brands=brands,
    )
