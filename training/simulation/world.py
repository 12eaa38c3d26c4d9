"""A simulated distributor world: customers, catalogue, orders, returns, inspections, abuse.

No public labelled returns data exists, so every model is trained on this world and checked on
real data. The world is built to be hard in the ways reality is: customer-picked reason codes are
often wrong, notes are written in several voices with noise, dispositions come from a latent
business process with site-to-site variation and label noise, and abuse hides among honest
customers who sometimes look similar (families sharing an address, dealers with many returns).

Everything is drawn from independent random streams derived from one seed, so the same seed gives
the same bytes, and changing the photo count leaves the tables of returns unchanged.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.codes import (
    AbuseScenario,
    Channel,
    ClaimType,
    ConditionGrade,
    CustomerSegment,
    DamageType,
    Disposition,
    ReasonCode,
)
from training.simulation.config import WorldConfig
from training.simulation.notes import PRODUCT_NOUNS, NoteSpec, generate_notes

REASONS = list(ReasonCode)
DISPOSITIONS = list(Disposition)
DAMAGES = list(DamageType)
CONDITIONS = list(ConditionGrade)
SEGMENTS = list(CustomerSegment)

INSPECTION_FINDINGS = (
    "NONE",
    "NO_FAULT_FOUND",
    "SIGNS_OF_USE",
    "SERIAL_MISMATCH",
    "WRONG_ITEM_RETURNED",
    "EMPTY_BOX",
    "CHEAPER_ITEM_RETURNED",
)

# reasons customers confuse with each other when they pick a code from a drop-down
CONFUSABLE: dict[ReasonCode, tuple[ReasonCode, ...]] = {
    ReasonCode.DAMAGED_IN_TRANSIT: (ReasonCode.DEFECTIVE, ReasonCode.QUALITY),
    ReasonCode.DEFECTIVE: (ReasonCode.QUALITY, ReasonCode.DAMAGED_IN_TRANSIT),
    ReasonCode.WRONG_ITEM: (ReasonCode.NOT_AS_DESCRIBED, ReasonCode.SIZE_FIT),
    ReasonCode.NOT_AS_DESCRIBED: (ReasonCode.WRONG_ITEM, ReasonCode.QUALITY),
    ReasonCode.SIZE_FIT: (ReasonCode.WRONG_ITEM, ReasonCode.NOT_AS_DESCRIBED),
    ReasonCode.INCOMPATIBLE: (ReasonCode.DEFECTIVE, ReasonCode.NOT_AS_DESCRIBED),
    ReasonCode.QUALITY: (ReasonCode.DEFECTIVE, ReasonCode.NOT_AS_DESCRIBED),
    ReasonCode.MISSING_PARTS: (ReasonCode.WRONG_ITEM, ReasonCode.DEFECTIVE),
    ReasonCode.NO_LONGER_NEEDED: (ReasonCode.SIZE_FIT, ReasonCode.NOT_AS_DESCRIBED),
    ReasonCode.LATE_DELIVERY: (ReasonCode.NO_LONGER_NEEDED, ReasonCode.OTHER),
    ReasonCode.EXPIRED: (ReasonCode.QUALITY, ReasonCode.DAMAGED_IN_TRANSIT),
    ReasonCode.OTHER: (ReasonCode.NO_LONGER_NEEDED, ReasonCode.QUALITY),
}

PHOTO_STREAM = 0x9E3779B9  # mixed with the world seed for the photo plan's random stream

PALETTE = np.array(
    [
        (200, 40, 40),
        (30, 90, 170),
        (40, 140, 70),
        (230, 190, 40),
        (240, 240, 235),
        (35, 35, 40),
        (130, 130, 135),
        (190, 110, 40),
        (120, 60, 150),
        (20, 130, 140),
        (225, 120, 150),
        (90, 70, 50),
        (170, 190, 200),
        (250, 140, 20),
    ],
    dtype=np.int64,
)

VOICE_BY_CHANNEL = {
    Channel.EDI: "edi",
    Channel.B2B_PORTAL: "b2b",
    Channel.SALES_REP: "b2b",
    Channel.CALL_CENTER: "consumer",
    Channel.ECOMMERCE: "consumer",
    Channel.MARKETPLACE: "consumer",
}

_NOT_RECEIVED_OPENINGS = (
    "Tracking says delivered but",
    "The carrier marked it delivered, however",
    "Hi,",
    "Order shows as delivered and",
    "",
    "Checked with neighbours and the front desk,",
    "PO shows delivered on the portal but",
)
_NOT_RECEIVED_CORE = (
    "I never received the package",
    "nothing arrived",
    "the box never showed up",
    "we have no record of receiving this shipment",
    "it was not at my door",
    "package is missing",
    "no delivery was made to our site",
    "i never got my order",
    "the parcel was never delivered",
)
_NOT_RECEIVED_ASK = (
    "Please refund.",
    "please send a refund to my card",
    "Need a credit or a reship.",
    "I want my money back.",
    "",
    "Please investigate with the carrier.",
    "Refund asap please",
)


@dataclass
class World:
    """The tables of one simulated world; columns are described in data_samples/DATASHEET.md."""

    seed: int
    customers: pd.DataFrame
    items: pd.DataFrame
    warehouses: pd.DataFrame
    inspectors: pd.DataFrame
    orders: pd.DataFrame
    returns: pd.DataFrame
    photos: pd.DataFrame
    summary: dict[str, object] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by file stem, in the order they are written."""
        return {
            "customers": self.customers,
            "items": self.items,
            "warehouses": self.warehouses,
            "inspectors": self.inspectors,
            "orders": self.orders,
            "returns": self.returns,
            "photos": self.photos,
        }


@dataclass
class _Streams:
    """Independent random streams, one per stage, all derived from the world seed."""

    catalogue: np.random.Generator
    customers: np.random.Generator
    orders: np.random.Generator
    returns: np.random.Generator
    inspection: np.random.Generator
    disposition: np.random.Generator
    notes_seed: int

    @classmethod
    def from_seed(cls, seed: int) -> _Streams:
        children = np.random.SeedSequence(seed).spawn(7)
        gen = [np.random.default_rng(child) for child in children[:6]]
        return cls(
            catalogue=gen[0],
            customers=gen[1],
            orders=gen[2],
            returns=gen[3],
            inspection=gen[4],
            disposition=gen[5],
            notes_seed=int(children[6].generate_state(1)[0]),
        )


def simulate_world(n_returns: int, seed: int, config: WorldConfig) -> World:
    """Simulate a world with exactly `n_returns` return events (photos are planned, not rendered).

    Photos are planned by `plan_photos` and rendered by `training.simulation.photos`.
    """
    if n_returns < 1:
        raise ValueError("n_returns must be >= 1")
    rng = _Streams.from_seed(seed)
    items = _catalogue(rng.catalogue, config)
    warehouses, inspectors = _sites(rng.inspection, config)
    insider_site = inspectors.loc[inspectors["is_insider"], "warehouse"].iloc[0]
    insider_region = str(warehouses.set_index("warehouse").at[insider_site, "region"])
    customers = _customers(rng.customers, config, n_returns, insider_region)
    orders = _orders(rng.orders, config, customers, items, warehouses)
    returns = _returns(rng.returns, config, customers, items, orders, n_returns)
    returns = _inspect(rng.inspection, config, returns, items, inspectors, customers)
    returns = _dispose(rng.disposition, config, returns, items, warehouses, inspectors)
    returns = _write_notes(rng.notes_seed, rng.returns, config, returns, items, customers)
    customers = _label_customers(rng.customers, customers, returns)
    world = World(
        seed=seed,
        customers=customers,
        items=items,
        warehouses=warehouses,
        inspectors=inspectors,
        orders=orders,
        returns=returns,
        photos=_empty_photos(),
    )
    world.summary = summarize(world)
    return world


def build_world(n_returns: int, n_photos: int, seed: int, config: WorldConfig) -> World:
    """Simulate a world and plan `n_photos` photos of its returns (render with `write_world`)."""
    world = simulate_world(n_returns, seed, config)
    world.photos = plan_photos(world, n_photos, seed, config)
    world.summary = summarize(world)
    return world


def sample_world(
    world: World, n_returns: int, n_photos: int, seed: int, config: WorldConfig
) -> World:
    """A small slice of `world`: `n_returns` returns (every abuse scenario kept when present).

    Used to make the committed data sample: a small world has too few customers to show every
    pattern, a slice of a bigger one does not.
    """
    rng = np.random.default_rng(seed)
    r = world.returns
    keep: list[int] = []
    for _, group in r.groupby("abuse_scenario", sort=True):
        if group["abuse_scenario"].iloc[0] != AbuseScenario.NONE.value:
            keep.extend(rng.choice(group.index.to_numpy(), min(4, len(group)), replace=False))
    rest = np.setdiff1d(r.index.to_numpy(), keep)
    keep.extend(rng.choice(rest, max(0, n_returns - len(keep)), replace=False))
    returns = r.loc[sorted(keep)].reset_index(drop=True)
    orders = world.orders[world.orders["order_line_id"].isin(returns["order_line_id"])]
    customers = world.customers[world.customers["customer_id"].isin(returns["customer_id"])]
    items = world.items[world.items["sku"].isin(set(returns["sku"]) | set(returns["returned_sku"]))]
    sample = World(
        seed=world.seed,
        customers=customers.reset_index(drop=True),
        items=items.reset_index(drop=True),
        warehouses=world.warehouses,
        inspectors=world.inspectors,
        orders=orders.reset_index(drop=True),
        returns=returns,
        photos=_empty_photos(),
    )
    sample.photos = plan_photos(sample, n_photos, seed, config)
    sample.summary = summarize(sample)
    return sample


# --------------------------------------------------------------------------- catalogue and sites


def _catalogue(rng: np.random.Generator, config: WorldConfig) -> pd.DataFrame:
    frames = []
    vendors = np.array([f"V-{i:03d}" for i in range(1, 41)])
    for cat_index, (name, cat) in enumerate(config.categories.items()):
        n = cat.skus
        prefix = name[:3].upper()
        nouns = PRODUCT_NOUNS[name]
        noun = np.array(nouns)[rng.integers(0, len(nouns), n)]
        price = np.round(np.exp(rng.normal(cat.price_log_mu, cat.price_log_sigma, n)), 2)
        price = np.clip(price, 1.5, 25_000.0)
        model = rng.integers(100, 9999, n)
        frame = pd.DataFrame(
            {
                "sku": [f"{prefix}-{cat_index}{i:05d}" for i in range(n)],
                "category": name,
                "product_noun": noun,
                "name": [f"{n_.title()} {prefix}{m}" for n_, m in zip(noun, model, strict=True)],
                "unit_price": price,
                "unit_cost": np.round(price * (1 - cat.margin * rng.uniform(0.7, 1.3, n)), 2),
                "serialized": rng.random(n) < cat.serialized,
                "lot_controlled": rng.random(n) < cat.lot_controlled,
                "expiry_controlled": rng.random(n) < cat.expiry_controlled,
                "regulated": rng.random(n) < cat.regulated,
                "hazmat": rng.random(n) < cat.hazmat,
                "refurbishable": rng.random(n) < cat.refurbishable,
                "vendor_return_agreement": rng.random(n) < cat.vendor_return_agreement,
                "return_window_days": rng.choice(cat.return_window_days, n),
                "warranty_days": rng.choice(cat.warranty_days, n),
                "vendor_id": vendors[rng.integers(0, len(vendors), n)],
                "shape": np.array(cat.shapes)[rng.integers(0, len(cat.shapes), n)],
                "color_r": 0,
                "color_g": 0,
                "color_b": 0,
                "shelf_life_days": np.where(
                    rng.random(n) < cat.expiry_controlled, rng.integers(90, 900, n), 0
                ),
                "recalled": False,
            }
        )
        colors = PALETTE[rng.integers(0, len(PALETTE), n)]
        frame[["color_r", "color_g", "color_b"]] = colors
        frame["expiry_controlled"] &= frame["shelf_life_days"] > 0
        frame["shelf_life_days"] = np.where(frame["expiry_controlled"], frame["shelf_life_days"], 0)
        frame["lot_controlled"] |= frame["expiry_controlled"]
        # a few regulated SKUs are under recall: their returns stay on quality hold
        frame["recalled"] = frame["regulated"] & (rng.random(n) < 0.03)
        frames.append(frame)
    items = pd.concat(frames, ignore_index=True)
    # a cheaper look-alike for each SKU (same category and product noun when possible): the
    # item a price-switcher sends back instead of the one they bought
    items["cheaper_sku"] = _cheaper_lookalikes(items)
    return items


def _cheaper_lookalikes(items: pd.DataFrame) -> pd.Series:
    result = pd.Series(index=items.index, dtype=object)
    for _, group in items.groupby(["category", "product_noun"], sort=True):
        ordered = group.sort_values("unit_price")
        skus = ordered["sku"].to_numpy()
        cheaper = np.concatenate([[skus[0]], skus[:-1]])
        result.loc[ordered.index] = cheaper
    return result.astype(str)


def _sites(rng: np.random.Generator, config: WorldConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    inspector_rows = []
    for name, site in config.warehouses.items():
        # site habits around the network's process: some sites refurbish more, some scrap more
        bias = rng.normal(0.0, 0.3, len(DISPOSITIONS))
        row: dict[str, object] = {"warehouse": name, "region": site.region}
        has_bench = rng.random() > 0.25
        row["has_refurb_bench"] = bool(has_bench)
        for disposition, value in zip(DISPOSITIONS, bias, strict=True):
            row[f"bias_{disposition.value.lower()}"] = float(value)
        rows.append(row)
        for k in range(site.inspectors):
            inspector_rows.append(
                {
                    "inspector_id": f"{name}-I{k + 1}",
                    "warehouse": name,
                    "strictness": float(rng.normal(0.0, 0.3)),
                    "is_insider": False,
                }
            )
    warehouses = pd.DataFrame(rows)
    inspectors = pd.DataFrame(inspector_rows)
    insider = int(rng.integers(0, len(inspectors)))
    inspectors.loc[insider, "is_insider"] = True
    return warehouses, inspectors


# --------------------------------------------------------------------------- customers


def _hex_tokens(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.integers(0, 2**63 - 1, size=(n, 2), dtype=np.int64)
    return np.array([f"{a:016x}{b:016x}" for a, b in raw])


def _customers(
    rng: np.random.Generator, config: WorldConfig, n_returns: int, insider_region: str
) -> pd.DataFrame:
    segments = list(config.segments)
    shares = np.array([config.segments[s].share for s in segments])
    shares = shares / shares.sum()
    years = config.order_months / 12
    # expected returns per customer of each segment, to size the population for n_returns
    per_customer = np.array(
        [
            config.segments[s].orders_per_year
            * years
            * config.segments[s].lines_per_order
            * _mean_logit_normal(config.return_propensity[s].mu, config.return_propensity[s].sigma)
            * (1 - config.zero_return_share)
            for s in segments
        ]
    )
    n_customers = max(60, math.ceil(1.08 * n_returns / float(shares @ per_customer)))

    seg_index = rng.choice(len(segments), n_customers, p=shares)
    segment = np.array([s.value for s in segments])[seg_index]
    region = np.array(config.regions)[rng.integers(0, len(config.regions), n_customers)]
    start = np.datetime64(config.start_date)
    # most accounts predate the world; some open during it (new accounts order later)
    age_days = np.where(
        rng.random(n_customers) < 0.8,
        rng.gamma(2.0, 700.0, n_customers).astype(int) + 1,
        -rng.integers(0, 30 * config.order_months - 60, n_customers),
    )
    account_opened = start - age_days.astype("timedelta64[D]")
    activity = np.array([config.segments[s].orders_per_year for s in segments])[seg_index]
    activity = activity * rng.gamma(2.0, 0.5, n_customers)
    mu = np.array([config.return_propensity[s].mu for s in segments])[seg_index]
    sigma = np.array([config.return_propensity[s].sigma for s in segments])[seg_index]
    propensity = _sigmoid(rng.normal(mu, sigma))
    propensity[rng.random(n_customers) < config.zero_return_share] = 0.0

    customer_id = np.array([f"C{i:07d}" for i in range(1, n_customers + 1)])
    tokens = {
        kind: _hex_tokens(rng, n_customers) for kind in ("address", "phone", "payment", "email")
    }

    b2b = np.isin(segment, ["DEALER", "CONTRACTOR", "INSTITUTION"])
    parent = np.full(n_customers, None, dtype=object)
    b2b_idx = np.flatnonzero(b2b & (rng.random(n_customers) < 0.3))
    if len(b2b_idx):
        groups = rng.integers(0, max(1, len(b2b_idx) // 3), len(b2b_idx))
        parent[b2b_idx] = [f"P{g:06d}" for g in groups]

    frame = pd.DataFrame(
        {
            "customer_id": customer_id,
            "segment": segment,
            "region": region,
            "account_opened": account_opened.astype("datetime64[D]"),
            "parent_account_id": parent,
            "address_hash": tokens["address"],
            "phone_hash": tokens["phone"],
            "payment_hash": tokens["payment"],
            "email_hash": tokens["email"],
            "activity": activity,
            "return_propensity": propensity,
            "abuse_scenario": AbuseScenario.NONE.value,
            "ring_id": None,
            "insider_colluder": False,
        }
    )
    # honest sharing: families, offices and sister sites share an address or a phone
    sharers = np.flatnonzero(rng.random(n_customers) < config.shared_token_share)
    for i in sharers:
        j = int(rng.integers(0, n_customers))
        column = "address_hash" if rng.random() < 0.7 else "phone_hash"
        frame.iloc[i, frame.columns.get_loc(column)] = frame.iat[j, frame.columns.get_loc(column)]
    _plant_customer_abuse(rng, config, frame)
    _plant_colluders(rng, config, frame, insider_region)
    return frame


def _plant_colluders(
    rng: np.random.Generator, config: WorldConfig, frame: pd.DataFrame, region: str
) -> None:
    """Accounts that return goods through the insider inspector (local, busy, honest-looking)."""
    honest = frame["abuse_scenario"] == AbuseScenario.NONE.value
    local = honest & (frame["region"] == region)
    pool = (
        np.flatnonzero(local.to_numpy()) if local.sum() >= 10 else np.flatnonzero(honest.to_numpy())
    )
    k = min(config.insider().colluding_customers, len(pool))
    idx = rng.choice(pool, k, replace=False)
    frame.loc[idx, "insider_colluder"] = True
    frame.loc[idx, "abuse_scenario"] = AbuseScenario.INSIDER.value
    frame.loc[idx, "return_propensity"] = rng.uniform(0.3, 0.5, k)
    frame.loc[idx, "activity"] = rng.uniform(15, 30, k)


def _plant_customer_abuse(
    rng: np.random.Generator, config: WorldConfig, frame: pd.DataFrame
) -> None:
    honest = np.ones(len(frame), dtype=bool)
    segment = frame["segment"].to_numpy()
    propensity = frame["return_propensity"].to_numpy().copy()
    activity = frame["activity"].to_numpy().copy()
    for scenario, cfg in config.customer_abuse().items():
        eligible = np.flatnonzero(honest & np.isin(segment, [s.value for s in cfg.segments]))
        n = max(1, round(cfg.share * len(eligible))) if len(eligible) else 0
        if n == 0:
            continue
        if scenario is AbuseScenario.RETURN_RING:
            assert cfg.ring_size is not None
            low, high = cfg.ring_size
            chosen: list[int] = []
            ring = 0
            pool = list(rng.permutation(eligible))
            while len(chosen) < n and len(pool) >= low:
                size = int(rng.integers(low, high + 1))
                members = [int(pool.pop()) for _ in range(min(size, len(pool)))]
                ring += 1
                lead = members[0]
                # members share at least two token kinds, each with most (not all) of the ring
                kinds = list(
                    rng.permutation(["address_hash", "phone_hash", "payment_hash", "email_hash"])
                )
                for kind in kinds[:2]:
                    value = frame.iat[lead, frame.columns.get_loc(kind)]
                    for m in members[1:]:
                        if rng.random() < 0.85:
                            frame.iat[m, frame.columns.get_loc(kind)] = value
                frame.loc[members, "ring_id"] = f"RING-{ring:03d}"
                # ring accounts are new
                frame.loc[members, "account_opened"] = (
                    np.datetime64(config.start_date)
                    + rng.integers(0, 30 * (config.order_months - 4), len(members)).astype(
                        "timedelta64[D]"
                    )
                ).astype("datetime64[D]")
                chosen.extend(members)
            idx = np.array(chosen, dtype=int)
        else:
            idx = rng.choice(eligible, n, replace=False)
        honest[idx] = False
        frame.loc[idx, "abuse_scenario"] = scenario.value
        boost = {
            AbuseScenario.SERIAL_RETURNER: (0.40, 0.80),
            AbuseScenario.WARDROBING: (0.25, 0.55),
            AbuseScenario.ITEM_SWAP: (0.15, 0.35),
            AbuseScenario.RETURN_RING: (0.30, 0.60),
            AbuseScenario.PRICE_SWITCH: (0.15, 0.35),
            AbuseScenario.ITEM_NOT_RECEIVED: (0.12, 0.30),
        }[scenario]
        propensity[idx] = rng.uniform(*boost, len(idx))
        activity[idx] = np.maximum(activity[idx], rng.uniform(5, 12, len(idx)))
    frame["return_propensity"] = propensity
    frame["activity"] = activity


def _label_customers(
    rng: np.random.Generator, customers: pd.DataFrame, returns: pd.DataFrame
) -> pd.DataFrame:
    """Analyst labels: a partial, slightly noisy view of the truth (what a fraud team has)."""
    customers = customers.copy()
    abusive = customers["abuse_scenario"] != AbuseScenario.NONE.value
    reviewed = np.where(
        abusive, rng.random(len(customers)) < 0.5, rng.random(len(customers)) < 0.04
    )
    flip = rng.random(len(customers)) < 0.03
    label = np.where(flip, ~abusive, abusive)
    customers["analyst_label"] = pd.array(np.where(reviewed, label, pd.NA), dtype="boolean")
    return customers


# --------------------------------------------------------------------------- orders


def _orders(
    rng: np.random.Generator,
    config: WorldConfig,
    customers: pd.DataFrame,
    items: pd.DataFrame,
    warehouses: pd.DataFrame,
) -> pd.DataFrame:
    start = np.datetime64(config.start_date)
    horizon = 30 * config.order_months + config.order_months // 2
    opened = (customers["account_opened"].to_numpy().astype("datetime64[D]") - start).astype(int)
    first_day = np.clip(opened, 0, horizon - 30)
    active_years = (horizon - first_day) / 365.0
    n_orders = rng.poisson(customers["activity"].to_numpy() * active_years)
    n_orders = np.maximum(n_orders, 1)
    cust_idx = np.repeat(np.arange(len(customers)), n_orders)
    n = len(cust_idx)
    order_day = first_day[cust_idx] + (rng.random(n) * (horizon - first_day[cust_idx])).astype(int)
    segments = customers["segment"].to_numpy()[cust_idx]
    seg_cfg = config.segments
    lines_mean = (
        pd.Series(segments)
        .map({s.value: cfg.lines_per_order for s, cfg in seg_cfg.items()})
        .to_numpy(dtype=float)
    )
    n_lines = 1 + rng.poisson(lines_mean - 1)
    line_order = np.repeat(np.arange(n), n_lines)
    line_no = np.arange(len(line_order)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1
    m = len(line_order)
    line_cust = cust_idx[line_order]
    line_seg = segments[line_order]

    # category per line from the segment's mix; abusers lean to what their scheme needs
    categories = list(config.categories)
    cat_choice = np.empty(m, dtype=np.int64)
    scenario = customers["abuse_scenario"].to_numpy()[line_cust]
    u = rng.random(m)
    for seg in CustomerSegment:
        mask = line_seg == seg.value
        weights = np.array([seg_cfg[seg].categories.get(c, 0.0) for c in categories])
        cat_choice[mask] = _pick(weights / weights.sum(), u[mask])
    electronics = categories.index("electronics")
    apparel = categories.index("apparel")
    lean = rng.random(m)
    swap_like = np.isin(scenario, ["ITEM_SWAP", "RETURN_RING", "PRICE_SWITCH"])
    cat_choice[swap_like & (lean < 0.6)] = electronics
    wardrobe = scenario == "WARDROBING"
    cat_choice[wardrobe & (lean < 0.45)] = apparel
    cat_choice[wardrobe & (lean >= 0.45) & (lean < 0.75)] = electronics

    # SKU within category: popularity is skewed (a few SKUs sell most)
    item_cat = items["category"].to_numpy()
    sku_idx = np.empty(m, dtype=np.int64)
    for k, name in enumerate(categories):
        pool = np.flatnonzero(item_cat == name)
        mask = cat_choice == k
        ranks = np.minimum(rng.zipf(1.3, mask.sum()) - 1, len(pool) - 1)
        sku_idx[mask] = pool[ranks]

    max_q = (
        pd.Series(line_seg)
        .map({s.value: cfg.max_quantity for s, cfg in seg_cfg.items()})
        .to_numpy()
    )
    serialized = items["serialized"].to_numpy()[sku_idx]
    quantity = np.where(
        max_q > 4,
        np.minimum(1 + rng.geometric(1 / np.maximum(max_q / 4, 1.0)), max_q),
        1 + (rng.random(m) < 0.15),
    )
    quantity = np.where(serialized, np.minimum(quantity, 3), quantity).astype(np.int64)
    # short shipments: delivered less than ordered on a few B2B lines
    short = (quantity > 1) & (rng.random(m) < 0.02)
    delivered = np.where(short, quantity - 1, quantity)

    base_price = items["unit_price"].to_numpy()[sku_idx]
    discount = np.where(
        np.isin(line_seg, ["DEALER", "INSTITUTION"]), rng.uniform(0.05, 0.25, m), 0.0
    )
    discount = np.where(line_seg == "CONTRACTOR", rng.uniform(0.0, 0.12, m), discount)
    unit_price = np.round(base_price * (1 - discount), 2)

    channel_codes = np.empty(m, dtype=object)
    order_channel_u = rng.random(n)[line_order]
    for seg in CustomerSegment:
        mask = line_seg == seg.value
        names = list(seg_cfg[seg].channels)
        weights = np.array([seg_cfg[seg].channels[c] for c in names])
        picked = _pick(weights / weights.sum(), order_channel_u[mask])
        channel_codes[mask] = np.array([c.value for c in names])[picked]

    # warehouse: the one in the customer's region when there is one, sometimes another
    wh_names = warehouses["warehouse"].to_numpy()
    wh_region = dict(zip(warehouses["region"], wh_names, strict=True))
    home = np.array([wh_region.get(r, wh_names[0]) for r in customers["region"].to_numpy()])
    order_wh = np.where(
        rng.random(n) < 0.82, home[cust_idx], wh_names[rng.integers(0, len(wh_names), n)]
    )
    warehouse = order_wh[line_order]

    order_date = start + order_day[line_order].astype("timedelta64[D]")
    ship_delay = rng.integers(0, 3, n)[line_order]
    transit = 1 + rng.poisson(np.where(warehouse == home[line_cust], 1.5, 3.5))
    # a carrier has a bad week now and then: late deliveries cluster in time
    late_week = (order_day[line_order] // 7) % 11 == 3
    transit = transit + np.where(late_week & (rng.random(m) < 0.5), rng.integers(4, 15, m), 0)
    ship_date = order_date + ship_delay.astype("timedelta64[D]")
    delivery_date = ship_date + transit.astype("timedelta64[D]")

    lot_controlled = items["lot_controlled"].to_numpy()[sku_idx]
    shelf = items["shelf_life_days"].to_numpy()[sku_idx]
    week = order_day[line_order] // 14
    lot = np.full(m, None, dtype=object)
    lot[lot_controlled] = [
        f"L{s:04d}-{w:03d}"
        for s, w in zip(sku_idx[lot_controlled], week[lot_controlled], strict=True)
    ]
    # remaining shelf life at shipping: usually plenty, sometimes short-dated stock goes out
    remaining = np.where(
        rng.random(m) < 0.06,
        rng.integers(3, 45, m),
        (shelf * rng.uniform(0.4, 0.95, m)).astype(int),
    )
    expiry = np.where(
        shelf > 0, ship_date + remaining.astype("timedelta64[D]"), np.datetime64("NaT")
    )

    order_ids = np.array([f"SO{i:08d}" for i in range(1, n + 1)])
    line_ids = np.array([f"{o}-{k}" for o, k in zip(order_ids[line_order], line_no, strict=True)])
    serial_base = rng.integers(10**9, 9 * 10**9, m)
    serials: list[list[str]] = [[] for _ in range(m)]
    for i in np.flatnonzero(serialized):
        serials[i] = [f"SN{serial_base[i] + k:010d}" for k in range(int(delivered[i]))]
    orders = pd.DataFrame(
        {
            "order_id": order_ids[line_order],
            "order_line_id": line_ids,
            "customer_id": customers["customer_id"].to_numpy()[line_cust],
            "sku": items["sku"].to_numpy()[sku_idx],
            "quantity_ordered": quantity,
            "quantity_delivered": delivered,
            "unit_price": unit_price,
            "currency": config.currency,
            "order_date": order_date.astype("datetime64[D]"),
            "ship_date": ship_date.astype("datetime64[D]"),
            "delivery_date": delivery_date.astype("datetime64[D]"),
            "serial_numbers": serials,
            "lot": lot,
            "expiry_date": expiry.astype("datetime64[D]"),
            "channel": channel_codes,
            "warehouse": warehouse,
            "transit_days": transit.astype(np.int64),
        }
    )
    return orders.sort_values(["order_date", "order_line_id"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- returns


def _returns(
    rng: np.random.Generator,
    config: WorldConfig,
    customers: pd.DataFrame,
    items: pd.DataFrame,
    orders: pd.DataFrame,
    n_returns: int,
) -> pd.DataFrame:
    cust_pos = pd.Index(customers["customer_id"]).get_indexer(orders["customer_id"])
    item_pos = pd.Index(items["sku"]).get_indexer(orders["sku"])
    cat_factor = np.array(
        [config.categories[c].return_factor for c in items["category"].to_numpy()]
    )[item_pos]
    q = customers["return_propensity"].to_numpy()[cust_pos] * cat_factor
    late = orders["transit_days"].to_numpy() > 7
    q = np.where(late, q * 1.8 + 0.03, q)
    short_dated = (orders["expiry_date"] - orders["delivery_date"]).dt.days.to_numpy() < 45
    q = np.where(short_dated, q * 1.8 + 0.05, q)
    q = np.clip(q, 0.0, 0.95)
    chosen = rng.random(len(orders)) < q
    chosen_idx = np.flatnonzero(chosen)
    # land exactly on n_returns: drop or add a few random lines (well under 1% at scale)
    if len(chosen_idx) > n_returns:
        chosen_idx = np.sort(rng.choice(chosen_idx, n_returns, replace=False))
    elif len(chosen_idx) < n_returns:
        spare = np.flatnonzero(~chosen & (q > 0))
        if len(spare) < n_returns - len(chosen_idx):
            spare = np.flatnonzero(~chosen)
        extra = rng.choice(spare, n_returns - len(chosen_idx), replace=False, p=None)
        chosen_idx = np.sort(np.concatenate([chosen_idx, extra]))

    lines = orders.iloc[chosen_idx].reset_index(drop=True)
    n = len(lines)
    ci = cust_pos[chosen_idx]
    ii = item_pos[chosen_idx]
    scenario = customers["abuse_scenario"].to_numpy()[ci].astype(object)
    segment = customers["segment"].to_numpy()[ci]
    category = items["category"].to_numpy()[ii]
    window = items["return_window_days"].to_numpy()[ii]
    warranty = items["warranty_days"].to_numpy()[ii]
    serialized = items["serialized"].to_numpy()[ii]

    # true reason from the category's mix, shifted by what happened to the line
    categories = list(config.categories)
    probs = np.zeros((n, len(REASONS)))
    for name in categories:
        mask = category == name
        row = np.array([config.categories[name].reasons.get(r, 0.0) for r in REASONS])
        probs[mask] = row
    late_line = lines["transit_days"].to_numpy() > 7
    probs[late_line, REASONS.index(ReasonCode.LATE_DELIVERY)] += 0.5
    short_line = (lines["expiry_date"] - lines["delivery_date"]).dt.days.to_numpy() < 45
    probs[short_line, REASONS.index(ReasonCode.EXPIRED)] += 0.6
    probs /= probs.sum(axis=1, keepdims=True)
    true_reason = np.array([r.value for r in REASONS], dtype=object)[
        _pick_rows(probs, rng.random(n))
    ]

    # abusers' real reason is mostly that they want the money back
    abusive = scenario != "NONE"
    nln = ReasonCode.NO_LONGER_NEEDED.value
    true_reason = np.where(
        np.isin(scenario, ["SERIAL_RETURNER", "WARDROBING"]) & (rng.random(n) < 0.7),
        nln,
        true_reason,
    )

    # per-event abuse: some of an abuser's returns carry the scheme, the rest look ordinary
    event_scenario = np.full(n, "NONE", dtype=object)
    share_by_scenario = {
        "SERIAL_RETURNER": 1.0,
        "WARDROBING": 0.75,
        "ITEM_SWAP": 0.6,
        "RETURN_RING": 0.8,
        "PRICE_SWITCH": 0.6,
        "ITEM_NOT_RECEIVED": 0.7,
    }
    u = rng.random(n)
    for name, share in share_by_scenario.items():
        event_scenario[(scenario == name) & (u < share)] = name
    swap_needs_serial = (event_scenario == "ITEM_SWAP") & ~serialized
    event_scenario[swap_needs_serial & (rng.random(n) < 0.5)] = "NONE"

    claim_type = np.full(n, ClaimType.RETURN.value, dtype=object)
    inr = event_scenario == "ITEM_NOT_RECEIVED"
    honest_inr = ~abusive & (rng.random(n) < config.honest_not_received)
    claim_type[inr | honest_inr] = ClaimType.NOT_RECEIVED.value
    delivery_confirmed = ~honest_inr  # a genuinely lost parcel has no proof of delivery

    # what the note claims: honest customers say what happened; abusers use a pretext
    note_reason = true_reason.copy()
    pretexts = {
        "SERIAL_RETURNER": [
            ReasonCode.SIZE_FIT,
            ReasonCode.QUALITY,
            ReasonCode.NOT_AS_DESCRIBED,
            ReasonCode.NO_LONGER_NEEDED,
        ],
        "WARDROBING": [
            ReasonCode.SIZE_FIT,
            ReasonCode.QUALITY,
            ReasonCode.NO_LONGER_NEEDED,
            ReasonCode.NOT_AS_DESCRIBED,
        ],
        "ITEM_SWAP": [ReasonCode.DEFECTIVE, ReasonCode.DEFECTIVE, ReasonCode.DAMAGED_IN_TRANSIT],
        "RETURN_RING": [
            ReasonCode.DEFECTIVE,
            ReasonCode.NOT_AS_DESCRIBED,
            ReasonCode.DAMAGED_IN_TRANSIT,
        ],
        "PRICE_SWITCH": [
            ReasonCode.DEFECTIVE,
            ReasonCode.NOT_AS_DESCRIBED,
            ReasonCode.NO_LONGER_NEEDED,
        ],
    }
    for name, codes in pretexts.items():
        mask = event_scenario == name
        note_reason[mask] = np.array([c.value for c in codes])[
            rng.integers(0, len(codes), mask.sum())
        ]
    note_reason[claim_type == ClaimType.NOT_RECEIVED.value] = ReasonCode.OTHER.value
    true_reason[claim_type == ClaimType.NOT_RECEIVED.value] = ReasonCode.OTHER.value

    # days from delivery to the request, by what is going on; nothing after the world ends
    world_end = np.datetime64(config.start_date) + np.timedelta64(
        30 * config.order_months + 120, "D"
    )
    delivery = lines["delivery_date"].to_numpy().astype("datetime64[D]")
    horizon_left = np.maximum((world_end - delivery).astype(int), 10)
    days = _days_after_delivery(rng, note_reason, true_reason, window, warranty, horizon_left)
    ward = event_scenario == "WARDROBING"
    days[ward] = np.ceil(window[ward] * rng.uniform(0.78, 1.0, ward.sum())).astype(int)
    days[inr | honest_inr] = rng.integers(2, 20, (inr | honest_inr).sum())
    requested = delivery.astype("datetime64[s]") + (
        days * 86400 + rng.integers(7 * 3600, 21 * 3600, n)
    ).astype("timedelta64[s]")
    received = requested + (rng.integers(2, 11, n) * 86400).astype("timedelta64[s]")
    received = np.where(claim_type == ClaimType.RETURN.value, received, np.datetime64("NaT"))

    delivered = lines["quantity_delivered"].to_numpy()
    qty = np.where(delivered > 1, rng.integers(1, np.maximum(delivered, 1) + 1), 1)
    qty = np.where(rng.random(n) < 0.12, delivered, qty)
    # a few clerks key more than was delivered (an eligibility exception, not fraud)
    over = (rng.random(n) < 0.01) & (segment != "CONSUMER")
    qty = np.where(over, delivered + rng.integers(1, 4, n), qty)
    qty = np.maximum(qty, 1).astype(np.int64)
    unit_price = lines["unit_price"].to_numpy()
    value = np.round(qty * unit_price, 2)

    # serials and SKUs that actually come back
    shipped_serials = lines["serial_numbers"].to_list()
    returned_serials: list[list[str]] = []
    serial_match: list[bool | None] = []
    swap_events = np.isin(event_scenario, ["ITEM_SWAP"]) | (
        (event_scenario == "RETURN_RING") & (rng.random(n) < 0.3) & serialized
    )
    honest_mismatch = ~abusive & serialized & (rng.random(n) < config.honest_serial_mismatch)
    foreign = rng.integers(10**9, 9 * 10**9, n)
    for i in range(n):
        shipped = list(shipped_serials[i])[: int(qty[i])]
        if not shipped:
            returned_serials.append([])
            serial_match.append(None)
        elif swap_events[i] or honest_mismatch[i]:
            returned_serials.append([f"SN{foreign[i] + k:010d}" for k in range(len(shipped))])
            serial_match.append(False)
        else:
            returned_serials.append(shipped)
            serial_match.append(True)
    returned_sku = lines["sku"].to_numpy().copy()
    switch = event_scenario == "PRICE_SWITCH"
    returned_sku[switch] = items["cheaper_sku"].to_numpy()[ii][switch]

    refund = np.where(
        np.isin(segment, ["CONSUMER", "MARKETPLACE"]),
        np.where(rng.random(n) < 0.7, "original_payment", "store_credit"),
        np.where(rng.random(n) < 0.8, "account_credit", "replacement"),
    ).astype(object)
    refund[abusive & (rng.random(n) < 0.8)] = "original_payment"

    # the code the customer picked: often right, sometimes OTHER, sometimes a confusable one
    picked = note_reason.copy()
    correct_p = np.array([config.notes.picked_correct[CustomerSegment(s)] for s in segment])
    u = rng.random(n)
    wrong = u >= correct_p
    to_other = wrong & (rng.random(n) < config.notes.picked_other)
    picked[to_other] = ReasonCode.OTHER.value
    confuse = wrong & ~to_other
    alt = rng.integers(0, 2, n)
    picked[confuse] = [
        CONFUSABLE[ReasonCode(r)][a].value
        for r, a in zip(note_reason[confuse], alt[confuse], strict=True)
    ]
    # abusers pick the code that avoids a restocking fee
    picked[abusive & (rng.random(n) < 0.6)] = ReasonCode.DEFECTIVE.value
    picked[claim_type == ClaimType.NOT_RECEIVED.value] = np.where(
        rng.random((claim_type == ClaimType.NOT_RECEIVED.value).sum()) < 0.6,
        ReasonCode.OTHER.value,
        ReasonCode.LATE_DELIVERY.value,
    )

    secondary = np.full(n, None, dtype=object)
    has_secondary = rng.random(n) < config.notes.secondary_reason_share
    sec = np.array([r.value for r in REASONS], dtype=object)[rng.integers(0, len(REASONS) - 1, n)]
    sec_ok = has_secondary & (sec != note_reason) & (claim_type == ClaimType.RETURN.value)
    secondary[sec_ok] = sec[sec_ok]

    returns = pd.DataFrame(
        {
            "return_id": [f"R{i:08d}" for i in range(1, n + 1)],
            "event_id": [
                f"EV-{hashlib.sha1(f'{i}'.encode()).hexdigest()[:12]}-{i}" for i in range(1, n + 1)
            ],
            "customer_id": lines["customer_id"].to_numpy(),
            "order_id": lines["order_id"].to_numpy(),
            "order_line_id": lines["order_line_id"].to_numpy(),
            "sku": lines["sku"].to_numpy(),
            "category": category,
            "claim_type": claim_type,
            "quantity": qty,
            "quantity_delivered": delivered.astype(np.int64),
            "customer_reason_code": picked,
            "note": "",
            "serial_numbers": returned_serials,
            "serial_match": np.array(serial_match, dtype=object),
            "lot": lines["lot"].to_numpy(),
            "expiry_date": lines["expiry_date"].to_numpy(),
            "channel": lines["channel"].to_numpy(),
            "warehouse": lines["warehouse"].to_numpy(),
            "requested_at": requested,
            "received_at": received,
            "value": value,
            "currency": config.currency,
            "refund_method": refund,
            "days_since_delivery": days.astype(np.int64),
            "delivery_confirmed": delivery_confirmed,
            # ground truth
            "true_reason": true_reason,
            "note_reason": note_reason,
            "secondary_reason": secondary,
            "returned_sku": returned_sku,
            "abuse_scenario": event_scenario,
            "customer_abuse_scenario": scenario,
        }
    )
    returns = returns.sort_values(["requested_at", "return_id"], kind="stable").reset_index(
        drop=True
    )
    returns["return_id"] = [f"R{i:08d}" for i in range(1, n + 1)]
    return returns


def _days_after_delivery(
    rng: np.random.Generator,
    note_reason: np.ndarray,
    true_reason: np.ndarray,
    window: np.ndarray,
    warranty: np.ndarray,
    horizon_left: np.ndarray,
) -> np.ndarray:
    n = len(note_reason)
    quick = np.isin(
        true_reason,
        ["DAMAGED_IN_TRANSIT", "WRONG_ITEM", "MISSING_PARTS", "LATE_DELIVERY", "EXPIRED"],
    )
    days = np.where(quick, rng.exponential(2.5, n), rng.gamma(2.0, np.maximum(window, 7) / 5.0))
    # defects: half dead on arrival, half fail after use (some after the window, in warranty)
    defect = true_reason == "DEFECTIVE"
    later = defect & (rng.random(n) < 0.5)
    days = np.where(later, rng.uniform(5, np.maximum(warranty, 30) * 0.9, n), days)
    # some honest customers are simply late
    days = np.where(rng.random(n) < 0.03, window + rng.integers(1, 40, n), days)
    return np.floor(np.minimum(days, horizon_left)).astype(np.int64)


# --------------------------------------------------------------------------- inspection


def _inspect(
    rng: np.random.Generator,
    config: WorldConfig,
    returns: pd.DataFrame,
    items: pd.DataFrame,
    inspectors: pd.DataFrame,
    customers: pd.DataFrame,
) -> pd.DataFrame:
    """Condition, damage and findings at receipt (truth, and what the inspector recorded)."""
    r = returns.copy()
    n = len(r)
    reason = r["true_reason"].to_numpy()
    scenario = r["abuse_scenario"].to_numpy()
    is_return = r["claim_type"].to_numpy() == ClaimType.RETURN.value

    # true damage type by what happened
    damage_probs = np.tile(np.array([0.93, 0.05, 0.01, 0.005, 0.005, 0.0]), (n, 1))
    table = {
        "DAMAGED_IN_TRANSIT": [0.02, 0.15, 0.28, 0.27, 0.10, 0.18],
        "DEFECTIVE": [0.86, 0.06, 0.02, 0.05, 0.01, 0.0],
        "QUALITY": [0.58, 0.20, 0.05, 0.08, 0.09, 0.0],
        "NOT_AS_DESCRIBED": [0.88, 0.07, 0.02, 0.01, 0.02, 0.0],
        "EXPIRED": [0.80, 0.02, 0.03, 0.0, 0.15, 0.0],
        "NO_LONGER_NEEDED": [0.88, 0.07, 0.01, 0.01, 0.03, 0.0],
    }
    for name, row in table.items():
        damage_probs[reason == name] = row
    liquid = np.isin(r["category"].to_numpy(), ["food_service", "medical_supplies"])
    transit = reason == "DAMAGED_IN_TRANSIT"
    damage_probs[liquid & transit] = [0.02, 0.05, 0.18, 0.15, 0.35, 0.25]
    ward = scenario == "WARDROBING"
    damage_probs[ward] = [0.55, 0.22, 0.03, 0.0, 0.20, 0.0]
    damage = np.array([d.value for d in DAMAGES], dtype=object)[
        _pick_rows(damage_probs, rng.random(n))
    ]
    damage[~is_return] = None
    severity = np.where(damage == DamageType.NONE.value, 0.0, rng.beta(2.0, 2.5, n))
    severity = np.where(is_return, severity, np.nan)

    # functional state and use
    functional = ~(
        (reason == "DEFECTIVE") & (rng.random(n) < 0.75)
        | (damage == "CRACK_BREAK") & (severity > 0.5)
    )
    used = ward | (r["days_since_delivery"].to_numpy() > 20) & (rng.random(n) < 0.5)
    unopened = (
        np.isin(reason, ["NO_LONGER_NEEDED", "LATE_DELIVERY", "WRONG_ITEM", "EXPIRED"])
        & (rng.random(n) < 0.55)
        & ~used
    )

    condition = np.full(n, ConditionGrade.LIKE_NEW.value, dtype=object)
    condition[unopened] = ConditionGrade.NEW.value
    condition[used] = ConditionGrade.USED.value
    physical = np.isin(
        damage, ["SCRATCH_SCUFF", "DENT_DEFORMATION", "CRACK_BREAK", "STAIN_CONTAMINATION"]
    )
    minor = physical & (severity < 0.3) & np.isin(damage, ["SCRATCH_SCUFF", "STAIN_CONTAMINATION"])
    condition[minor & (condition == ConditionGrade.NEW.value)] = ConditionGrade.LIKE_NEW.value
    condition[physical & ~minor] = ConditionGrade.DAMAGED.value
    condition[~functional] = ConditionGrade.NON_FUNCTIONAL.value

    finding = np.full(n, "NONE", dtype=object)
    claims_fault = np.isin(r["note_reason"].to_numpy(), ["DEFECTIVE"])
    finding[claims_fault & functional] = "NO_FAULT_FOUND"
    finding[used & (r["note_reason"].to_numpy() != "NO_LONGER_NEEDED")] = "SIGNS_OF_USE"
    serial_match = r["serial_match"].to_numpy()
    mismatch = serial_match == False  # noqa: E712 - object array of True/False/None
    swap = scenario == "ITEM_SWAP"
    what = rng.random(n)
    finding[mismatch] = "SERIAL_MISMATCH"
    finding[swap & (what < 0.3)] = "EMPTY_BOX"
    finding[swap & (what >= 0.3) & ((what < 0.6) | pd.isna(serial_match))] = "WRONG_ITEM_RETURNED"
    finding[r["returned_sku"].to_numpy() != r["sku"].to_numpy()] = "CHEAPER_ITEM_RETURNED"
    condition[swap & (what < 0.3)] = ConditionGrade.NON_FUNCTIONAL.value
    finding[~is_return] = None
    condition[~is_return] = None

    # inspector: one of the site's inspectors; colluders' goods go to the insider
    site_inspectors = {
        wh: group["inspector_id"].to_numpy() for wh, group in inspectors.groupby("warehouse")
    }
    warehouse = r["warehouse"].to_numpy()
    pick = rng.random(n)
    inspector = np.array(
        [
            site_inspectors[w][int(p * len(site_inspectors[w]))]
            for w, p in zip(warehouse, pick, strict=True)
        ],
        dtype=object,
    )
    inspector[~is_return] = None

    recorded_condition = condition.copy()
    recorded_damage = damage.copy()
    recorded_finding = finding.copy()
    # inspectors miss some things and disagree at the margins
    miss = is_return & (rng.random(n) < 0.05)
    recorded_damage[miss & physical & (severity < 0.35)] = DamageType.NONE.value
    grade_noise = is_return & (rng.random(n) < 0.06)
    shift = {
        "NEW": "LIKE_NEW",
        "LIKE_NEW": "USED",
        "USED": "LIKE_NEW",
        "DAMAGED": "USED",
        "NON_FUNCTIONAL": "DAMAGED",
    }
    recorded_condition[grade_noise] = [shift[c] for c in condition[grade_noise]]

    # the insider: one inspector passes damaged, used or swapped goods of colluders as good
    insider = inspectors.loc[inspectors["is_insider"], ["inspector_id", "warehouse"]].iloc[0]
    colluders = customers.loc[customers["insider_colluder"], "customer_id"]
    to_insider = r["customer_id"].isin(colluders).to_numpy() & is_return
    inspector[to_insider] = insider["inspector_id"]
    r.loc[to_insider, "warehouse"] = insider["warehouse"]
    bad = to_insider & (rng.random(n) < 0.85)
    condition[bad] = np.where(
        rng.random(bad.sum()) < 0.5, ConditionGrade.DAMAGED.value, ConditionGrade.USED.value
    )
    damage[bad] = np.where(
        rng.random(bad.sum()) < 0.6,
        DamageType.SCRATCH_SCUFF.value,
        DamageType.DENT_DEFORMATION.value,
    )
    severity[bad] = rng.uniform(0.3, 0.9, bad.sum())
    recorded_condition[bad] = ConditionGrade.LIKE_NEW.value
    recorded_damage[bad] = DamageType.NONE.value
    recorded_finding[bad] = "NONE"
    insider_cases = to_insider & bad
    r.loc[insider_cases, "abuse_scenario"] = AbuseScenario.INSIDER.value
    # colluders buy and return dearer goods through the insider
    r.loc[insider_cases, "value"] = np.round(r.loc[insider_cases, "value"].to_numpy() * 1.0, 2)

    r["true_damage_type"] = damage
    r["damage_severity"] = severity
    r["true_condition"] = condition
    r["functional"] = np.where(is_return, functional, None)
    r["inspector_id"] = inspector
    r["inspection_condition"] = recorded_condition
    r["inspection_damage_type"] = recorded_damage
    r["inspection_finding"] = recorded_finding
    r["true_finding"] = finding
    return r


# --------------------------------------------------------------------------- disposition


def _dispose(
    rng: np.random.Generator,
    config: WorldConfig,
    returns: pd.DataFrame,
    items: pd.DataFrame,
    warehouses: pd.DataFrame,
    inspectors: pd.DataFrame,
) -> pd.DataFrame:
    """Final disposition from a latent business process with site habits and label noise."""
    r = returns.copy()
    n = len(r)
    ii = pd.Index(items["sku"]).get_indexer(r["sku"])
    it = items.iloc[ii].reset_index(drop=True)
    cond = r["true_condition"].to_numpy()
    recorded = r["inspection_condition"].to_numpy()
    # the process acts on what was recorded (that is how the insider's cases get restocked)
    cond = np.where(r["abuse_scenario"].to_numpy() == "INSIDER", recorded, cond)
    sev = np.nan_to_num(r["damage_severity"].to_numpy(dtype=float))
    finding = r["inspection_finding"].to_numpy()
    is_return = r["claim_type"].to_numpy() == ClaimType.RETURN.value

    d = {name: i for i, name in enumerate(DISPOSITIONS)}
    u = np.zeros((n, len(DISPOSITIONS)))
    u[:, d[Disposition.RESTOCK]] += 0.5
    u[:, d[Disposition.QUARANTINE]] -= 1.5
    u[:, d[Disposition.RETURN_TO_VENDOR]] -= 0.3

    refurb = it["refurbishable"].to_numpy()
    vendor = it["vendor_return_agreement"].to_numpy()
    regulated = it["regulated"].to_numpy()
    food = it["category"].to_numpy() == "food_service"
    apparel = it["category"].to_numpy() == "apparel"
    price = it["unit_price"].to_numpy()
    in_warranty = r["days_since_delivery"].to_numpy() <= it["warranty_days"].to_numpy()

    def add(mask: np.ndarray, disposition: Disposition, amount: float | np.ndarray) -> None:
        u[:, d[disposition]] += np.where(mask, amount, 0.0)

    add(cond == "NEW", Disposition.RESTOCK, 3.0)
    add(cond == "LIKE_NEW", Disposition.RESTOCK, 1.6)
    add(cond == "LIKE_NEW", Disposition.RESALE_DISCOUNTED, 1.3)
    add(cond == "USED", Disposition.RESALE_DISCOUNTED, 2.0)
    add((cond == "USED") & refurb, Disposition.REFURBISH, 1.0)
    add((cond == "USED") & apparel, Disposition.SCRAP, 0.8)
    damaged = cond == "DAMAGED"
    add(damaged & refurb, Disposition.REFURBISH, 2.0)
    add(damaged & vendor, Disposition.RETURN_TO_VENDOR, 1.0)
    add(damaged, Disposition.SCRAP, 0.8 + 2.0 * sev)
    add(damaged, Disposition.RESALE_DISCOUNTED, 1.2 * (1 - sev))
    broken = cond == "NON_FUNCTIONAL"
    add(broken & vendor & in_warranty, Disposition.RETURN_TO_VENDOR, 2.6)
    add(broken & refurb, Disposition.REFURBISH, 2.0)
    add(broken, Disposition.SCRAP, 1.3)
    opened = cond != "NEW"
    add(regulated & opened, Disposition.SCRAP, 2.2)
    add(regulated & opened, Disposition.QUARANTINE, 1.2)
    add(regulated & ~opened, Disposition.QUARANTINE, 1.4)
    add(food & opened, Disposition.RESTOCK, -3.0)
    expired = r["true_reason"].to_numpy() == "EXPIRED"
    add(expired, Disposition.SCRAP, 2.4)
    add(expired & vendor, Disposition.RETURN_TO_VENDOR, 1.6)
    add(expired, Disposition.RESTOCK, -2.5)
    add(it["recalled"].to_numpy(), Disposition.QUARANTINE, 4.0)
    fraud_finding = np.isin(
        finding, ["SERIAL_MISMATCH", "WRONG_ITEM_RETURNED", "EMPTY_BOX", "CHEAPER_ITEM_RETURNED"]
    )
    add(fraud_finding, Disposition.QUARANTINE, 4.5)
    add(finding == "NO_FAULT_FOUND", Disposition.RESALE_DISCOUNTED, 0.8)
    add(price < 15, Disposition.REFURBISH, -1.6)
    add(price < 15, Disposition.RETURN_TO_VENDOR, -1.0)
    add(price < 15, Disposition.SCRAP, 0.6)
    add(price > 400, Disposition.REFURBISH, 0.7)
    add(price > 400, Disposition.SCRAP, -0.6)

    site = warehouses.set_index("warehouse").loc[r["warehouse"].to_numpy()]
    for disposition in DISPOSITIONS:
        u[:, d[disposition]] += site[f"bias_{disposition.value.lower()}"].to_numpy()
    add(~site["has_refurb_bench"].to_numpy(), Disposition.REFURBISH, -1.8)
    add(~site["has_refurb_bench"].to_numpy(), Disposition.RETURN_TO_VENDOR, 0.6)
    # strict inspectors restock less and scrap more
    strictness = (
        r["inspector_id"].map(inspectors.set_index("inspector_id")["strictness"]).fillna(0.0)
    ).to_numpy(dtype=float)
    u[:, d[Disposition.RESTOCK]] -= strictness
    u[:, d[Disposition.SCRAP]] += strictness
    # decisions vary case by case beyond anything recorded: per-row noise in the utilities
    u += rng.gumbel(0.0, 0.55, u.shape)
    choice = u.argmax(axis=1)
    # keying errors and ad-hoc decisions no model can explain
    noise = rng.random(n) < config.disposition_label_noise
    choice[noise] = rng.integers(0, len(DISPOSITIONS), noise.sum())
    insider = r["abuse_scenario"].to_numpy() == "INSIDER"
    choice[insider] = d[Disposition.RESTOCK]
    disposition = np.array([x.value for x in DISPOSITIONS], dtype=object)[choice]
    disposition[~is_return] = None
    r["disposition"] = disposition
    # credit approved: full, less a restocking fee for change of mind, none when fraud is found
    fee = np.where(r["note_reason"].to_numpy() == "NO_LONGER_NEEDED", 0.15, 0.0)
    credit = r["value"].to_numpy() * (1 - fee)
    credit = np.where(fraud_finding, 0.0, credit)
    r["credit_amount"] = np.round(credit, 2)
    return r


# --------------------------------------------------------------------------- notes


def _write_notes(
    notes_seed: int,
    rng: np.random.Generator,
    config: WorldConfig,
    returns: pd.DataFrame,
    items: pd.DataFrame,
    customers: pd.DataFrame,
) -> pd.DataFrame:
    r = returns.copy()
    n = len(r)
    note_rng = np.random.default_rng(notes_seed)
    channel = r["channel"].to_numpy()
    empty_p = np.array([config.notes.empty_share[Channel(c)] for c in channel])
    empty = note_rng.random(n) < empty_p
    inr = r["claim_type"].to_numpy() == ClaimType.NOT_RECEIVED.value
    empty &= ~inr
    noun = items.set_index("sku").loc[r["sku"].to_numpy(), "product_noun"].to_numpy()
    specs_idx = np.flatnonzero(~empty & ~inr)
    reason = r["note_reason"].to_numpy(dtype=object)
    secondary = r["secondary_reason"].to_numpy(dtype=object)
    picked = r["customer_reason_code"].to_numpy(dtype=object)
    category = r["category"].to_numpy(dtype=object)
    days = r["days_since_delivery"].to_numpy()
    specs = [
        NoteSpec(
            reason=ReasonCode(reason[i]),
            voice=VOICE_BY_CHANNEL[Channel(channel[i])],
            category=str(category[i]),
            product=str(noun[i]),
            secondary=None if pd.isna(secondary[i]) else ReasonCode(secondary[i]),
            customer_code=ReasonCode(picked[i]),
            used_days=int(days[i]),
        )
        for i in specs_idx
    ]
    texts = generate_notes(specs, seed=notes_seed)
    notes = np.full(n, "", dtype=object)
    notes[specs_idx] = texts
    inr_idx = np.flatnonzero(inr)
    notes[inr_idx] = [_not_received_note(note_rng) for _ in inr_idx]
    r["note"] = notes
    r["note_reason"] = np.where(empty, None, r["note_reason"].to_numpy())
    r["secondary_reason"] = np.where(empty, None, r["secondary_reason"].to_numpy())
    return r


def _not_received_note(rng: np.random.Generator) -> str:
    parts = [
        _NOT_RECEIVED_OPENINGS[int(rng.integers(len(_NOT_RECEIVED_OPENINGS)))],
        _NOT_RECEIVED_CORE[int(rng.integers(len(_NOT_RECEIVED_CORE)))] + ".",
        _NOT_RECEIVED_ASK[int(rng.integers(len(_NOT_RECEIVED_ASK)))],
    ]
    return " ".join(p for p in parts if p).strip()


# --------------------------------------------------------------------------- photos


def _empty_photos() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "photo_id": pd.Series(dtype=str),
            "return_id": pd.Series(dtype=str),
            "path": pd.Series(dtype=str),
            "shape": pd.Series(dtype=str),
            "color_r": pd.Series(dtype=np.int64),
            "color_g": pd.Series(dtype=np.int64),
            "color_b": pd.Series(dtype=np.int64),
            "damage_type": pd.Series(dtype=str),
            "severity": pd.Series(dtype=float),
            "seed": pd.Series(dtype=np.int64),
        }
    )


def plan_photos(world: World, n_photos: int, seed: int, config: WorldConfig) -> pd.DataFrame:
    """Choose which returns carry photos (1-3 each) and what each photo shows.

    Damaged goods and damage claims come with photos more often, as in real return portals.
    """
    if n_photos <= 0:
        return _empty_photos()
    # a stream of its own, so the photo count never changes the other tables
    rng = np.random.default_rng([seed, PHOTO_STREAM])
    r = world.returns
    is_return = (r["claim_type"] == ClaimType.RETURN.value).to_numpy()
    damaged = is_return & (r["true_damage_type"].fillna("NONE") != DamageType.NONE.value).to_numpy()
    claims = r["note_reason"].isin(["DAMAGED_IN_TRANSIT", "QUALITY", "DEFECTIVE"]).to_numpy()
    weight = config.photos.weight_base + config.photos.weight_damaged * damaged
    weight = weight + config.photos.weight_claim_damage * claims
    weight = np.where(is_return, weight, 0.0)
    counts = rng.choice([1, 2, 3], size=len(r), p=[0.5, 0.3, 0.2])
    # weighted sampling without replacement (Efraimidis-Spirakis keys u ** (1 / w))
    keys = np.full(len(r), -1.0)
    positive = weight > 0
    keys[positive] = rng.random(int(positive.sum())) ** (1.0 / weight[positive])
    order = np.argsort(-keys, kind="stable")
    chosen: list[int] = []
    per_return: list[int] = []
    total = 0
    for idx in order:
        if total >= n_photos or weight[idx] == 0:
            break
        k = int(min(counts[idx], n_photos - total))
        chosen.append(int(idx))
        per_return.append(k)
        total += k
    rows = []
    items = world.items.set_index("sku")
    photo_no = 0
    for idx, k in zip(chosen, per_return, strict=True):
        ret = r.iloc[idx]
        item = items.loc[ret["returned_sku"]]
        for j in range(k):
            photo_no += 1
            damage = str(ret["true_damage_type"])
            if (
                j > 0
                and damage != DamageType.NONE.value
                and rng.random() > config.photos.extra_photo_shows_damage
            ):
                damage = DamageType.NONE.value  # another side of the item, no damage in view
            rows.append(
                {
                    "photo_id": f"PH{photo_no:07d}",
                    "return_id": ret["return_id"],
                    "path": f"photos/PH{photo_no:07d}.jpg",
                    "shape": item["shape"],
                    "color_r": int(item["color_r"]),
                    "color_g": int(item["color_g"]),
                    "color_b": int(item["color_b"]),
                    "damage_type": damage,
                    "severity": float(ret["damage_severity"]) if damage != "NONE" else 0.0,
                    "seed": int(rng.integers(0, 2**31 - 1)),
                }
            )
    return pd.DataFrame(rows) if rows else _empty_photos()


# --------------------------------------------------------------------------- summaries and helpers


def summarize(world: World) -> dict[str, object]:
    """Headline counts of a world, for the CLI and the manifest."""
    r = world.returns
    return {
        "customers": len(world.customers),
        "skus": len(world.items),
        "order_lines": len(world.orders),
        "returns": len(r),
        "photos": len(world.photos),
        "first_order": str(world.orders["order_date"].min().date()),
        "last_request": str(r["requested_at"].max().date()),
        "abuse_events": {
            k: int(v) for k, v in r["abuse_scenario"].value_counts().sort_index().items()
        },
        "dispositions": {
            k: int(v) for k, v in r["disposition"].value_counts().sort_index().items()
        },
        "empty_notes": int((r["note"] == "").sum()),
    }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=float)


def _mean_logit_normal(mu: float, sigma: float) -> float:
    grid = np.random.default_rng(0).normal(mu, sigma, 20_000)
    return float(_sigmoid(grid).mean())


def _pick(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categorical draws with shared probabilities `p` from uniforms `u`."""
    return np.minimum(np.searchsorted(np.cumsum(p), u, side="right"), len(p) - 1)


def _pick_rows(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categorical draws with one probability row per draw."""
    cum = np.cumsum(p, axis=1)
    cum /= cum[:, -1:]
    return np.minimum((cum < u[:, None]).sum(axis=1), p.shape[1] - 1)
