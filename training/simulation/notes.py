"""Compositional generator of free-text return notes for the simulated distributor world.

No public labelled returns data exists, so the reason-text classifier learns from these notes
and is judged on real customer language (product reviews). The generator therefore aims for
breadth, not neatness: every reason is said in many ways through independent slots (opening,
praise, problem statement, detail, consequence, request, sign-off), the vocabulary depends on
the product category and on the writer's voice (consumer shopper, B2B buyer, terse EDI/ERP
remark), and realistic noise is added (typos, casing, missing punctuation, irrelevant order
numbers, negated mentions of other reasons, a subordinate second reason, a reference to the
code the customer picked). The primary reason stays identifiable by a careful human reader.

Templates use ``{placeholders}`` filled lazily per note (see ``_Fill``); all vocabulary is
plain data in this module.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from features.codes import ReasonCode

R = ReasonCode

VOICES: tuple[str, ...] = ("consumer", "b2b", "edi")
CATEGORIES: tuple[str, ...] = (
    "industrial_parts",
    "electronics",
    "medical_supplies",
    "food_service",
    "apparel",
    "home_goods",
)


@dataclass(frozen=True)
class NoteSpec:
    """What one simulated note must say.

    ``reason`` is the true primary reason; ``secondary`` a subordinate second reason that the
    note also mentions; ``customer_code`` the (possibly wrong) code the customer picked, which
    the note occasionally refers to; ``used_days`` how long the customer had the goods.
    """

    reason: ReasonCode
    voice: str
    category: str
    product: str
    secondary: ReasonCode | None = None
    customer_code: ReasonCode | None = None
    used_days: int | None = None


PRODUCT_NOUNS: dict[str, tuple[str, ...]] = {
    "industrial_parts": (
        "pressure gauge",
        "ball valve",
        "bearing",
        "hydraulic hose",
        "pump impeller",
        "gear motor",
        "solenoid valve",
        "pipe fitting",
        "v-belt",
        "proximity sensor",
        "air filter",
        "drill bit set",
        "torque wrench",
        "contactor",
        "shaft coupling",
        "gasket kit",
        "flow meter",
        "relief valve",
    ),
    "electronics": (
        "barcode scanner",
        "bluetooth headset",
        "wireless earbuds",
        "smart speaker",
        "phone charger",
        "phone case",
        "tablet",
        "wifi router",
        "label printer",
        "power bank",
        "car charger",
        "usb-c cable",
        "monitor",
        "streaming stick",
        "security camera",
        "keyboard",
        "smart watch",
    ),
    "medical_supplies": (
        "exam gloves",
        "blood pressure cuff",
        "pulse oximeter",
        "thermometer",
        "syringes",
        "wound dressing",
        "iv start kit",
        "test strips",
        "face masks",
        "compression stockings",
        "catheter",
        "gauze pads",
        "nebulizer",
        "surgical tape",
        "hand sanitizer",
    ),
    "food_service": (
        "sheet pan",
        "chef knife",
        "food containers",
        "to-go lids",
        "coffee filters",
        "cooking oil",
        "hotel pan",
        "thermometer probe",
        "paper cups",
        "deli film",
        "sauce dispenser",
        "cutting board",
        "canned tomatoes",
        "frozen fries",
        "napkins",
        "blender",
    ),
    "apparel": (
        "work jacket",
        "dress",
        "blouse",
        "sweater",
        "jeans",
        "leggings",
        "scrub top",
        "hi-vis vest",
        "work boots",
        "t-shirt",
        "skirt",
        "cardigan",
        "romper",
        "jumpsuit",
        "chef coat",
        "fleece pullover",
        "tank top",
        "trousers",
    ),
    "home_goods": (
        "table lamp",
        "bath towels",
        "cookware set",
        "duvet cover",
        "vacuum cleaner",
        "coffee maker",
        "bookshelf",
        "throw pillow",
        "shower curtain",
        "area rug",
        "kettle",
        "desk chair",
        "mirror",
        "storage bins",
        "air purifier",
        "curtains",
    ),
}

# ---------------------------------------------------------------------------------------------
# Fill values for placeholders
# ---------------------------------------------------------------------------------------------

_SIZES: dict[str, tuple[str, ...]] = {
    "industrial_parts": (
        '1/2"',
        '3/4"',
        '1"',
        "1/4 NPT",
        "3/8 NPT",
        "M8",
        "M10",
        "M12",
        "6205",
        "6206",
        "0-100 psi",
        "0-300 psi",
        "24V",
        "120V",
        "A48",
        "B52",
    ),
    "electronics": (
        "64GB",
        "128GB",
        "256GB",
        "6 ft",
        "10 ft",
        "USB-C",
        "Lightning",
        "micro USB",
        "20W",
        "65W",
        "27 inch",
        "24 inch",
        "small band",
        "large band",
    ),
    "medical_supplies": (
        "small",
        "medium",
        "large",
        "XL",
        "size 7",
        "size 8",
        "22G",
        "20G",
        "3cc",
        "10cc",
        "adult",
        "pediatric",
        "4x4",
        "2x2",
    ),
    "food_service": (
        "8 oz",
        "12 oz",
        "16 oz",
        "32 oz",
        "half size",
        "full size",
        "1/3 size",
        "1/6 size",
        "#10 can",
        "gallon",
        "10 inch",
        "12 inch",
    ),
    "apparel": (
        "XS",
        "S",
        "M",
        "L",
        "XL",
        "XXL",
        "small",
        "medium",
        "large",
        "size 2",
        "size 4",
        "size 6",
        "size 8",
        "size 10",
        "size 12",
        "size 14",
        "petite small",
        "32x30",
        "34x32",
        "9",
        "10.5",
        "11 wide",
    ),
    "home_goods": (
        "twin",
        "full",
        "queen",
        "king",
        "5x8",
        "8x10",
        "84 inch",
        "63 inch",
        "1.7 liter",
        "12 cup",
        "small",
        "large",
    ),
}

_COLORS: tuple[str, ...] = (
    "black",
    "navy",
    "white",
    "grey",
    "gray",
    "red",
    "blue",
    "green",
    "olive",
    "beige",
    "ivory",
    "pink",
    "blush",
    "burgundy",
    "charcoal",
    "teal",
    "tan",
    "orange",
    "yellow",
    "silver",
    "walnut",
    "coral",
    "mustard",
    "cream",
    "royal blue",
    "hi-vis yellow",
)

_PLATFORM: dict[str, tuple[str, ...]] = {
    "industrial_parts": (
        "our CNC lathe",
        "the model 300 compressor",
        "our line 3 conveyor",
        "the older press",
        "our existing manifold",
        "the 2-inch header",
        "our Series 40 pumps",
        "the packaging line",
        "our control panel",
        "the BSP fittings we use",
        "our existing mounts",
        "the gearbox",
    ),
    "electronics": (
        "my iPhone",
        "my iPhone 12",
        "my Samsung",
        "my Galaxy S21",
        "my Pixel",
        "my Android",
        "my Mac",
        "my MacBook",
        "Windows 11",
        "my laptop",
        "my car",
        "my Echo",
        "Google Home",
        "Apple Music",
        "our POS system",
        "our warehouse software",
        "my TV",
        "my router",
        "my iPad",
        "my Kindle Fire",
        "the old model",
    ),
    "medical_supplies": (
        "our meters",
        "our infusion pumps",
        "our monitors",
        "the glucometer we use",
        "our suction units",
        "our exam tables",
        "our dispensers",
        "the wall units",
        "our luer lock syringes",
        "our nebulizer compressors",
    ),
    "food_service": (
        "our dispensers",
        "our brewer",
        "our cup sizes",
        "our steam table",
        "our oven",
        "our slicer",
        "our fryer",
        "our walk-in shelving",
        "our hotel pans",
        "the sealer",
    ),
    "apparel": (
        "my uniform",
        "the liner I already have",
        "my other boots",
        "our company logo patches",
        "my harness",
        "my jacket",
        "the insoles I use",
        "our embroidery machine",
    ),
    "home_goods": (
        "my induction cooktop",
        "my fixture",
        "my vacuum model",
        "Google Home",
        "Alexa",
        "my bed frame",
        "my curtain rod",
        "my outlets",
        "my coffee machine",
        "my desk",
    ),
}

_ACCESSORY: dict[str, tuple[str, ...]] = {
    "industrial_parts": (
        "mounting hardware",
        "gasket",
        "o-rings",
        "bolts",
        "the bracket",
        "the manual",
        "the seal kit",
        "the key for the shaft",
        "the wiring harness",
        "the cap",
        "the nuts",
    ),
    "electronics": (
        "charging cable",
        "power adapter",
        "remote",
        "manual",
        "mounting bracket",
        "earbud tips",
        "the charger",
        "the usb cable",
        "the stand",
        "batteries",
        "the power cord",
        "the case",
    ),
    "medical_supplies": (
        "tubing",
        "instructions for use",
        "the cuff",
        "the mouthpiece",
        "the probe covers",
        "the lancets",
        "the adapter",
        "the batteries",
        "the carry case",
        "the needles",
    ),
    "food_service": (
        "lids",
        "the spout",
        "the pump",
        "the gasket",
        "the blade",
        "the rack",
        "the straws",
        "the cover",
        "the measuring scoop",
        "the tamper",
    ),
    "apparel": (
        "belt",
        "the drawstring",
        "spare buttons",
        "the hood",
        "the slip",
        "the tie",
        "the liner",
        "the laces",
        "the detachable collar",
    ),
    "home_goods": (
        "screws",
        "the hardware pack",
        "legs",
        "the lid",
        "the filter",
        "the shade",
        "the allen key",
        "the pillow insert",
        "the hooks",
        "the instructions",
    ),
}

_PART: dict[str, tuple[str, ...]] = {
    "industrial_parts": (
        "the seal",
        "the bearing",
        "the threads",
        "the housing",
        "the needle",
        "the coil",
        "the shaft",
        "the o-ring",
        "the welds",
        "the casting",
        "the handle",
        "the face",
    ),
    "electronics": (
        "the screen",
        "the charging port",
        "the battery",
        "the speaker",
        "the mic",
        "the buttons",
        "the hinge",
        "the cable",
        "the ear loop",
        "the clip",
        "the plug",
    ),
    "medical_supplies": (
        "the seal",
        "the cuff",
        "the valve",
        "the plunger",
        "the strap",
        "the display",
        "the tubing",
        "the adhesive",
        "the cap",
    ),
    "food_service": (
        "the handle",
        "the lid",
        "the rivets",
        "the edge",
        "the seal",
        "the base",
        "the coating",
        "the pump",
        "the hinge",
    ),
    "apparel": (
        "the seams",
        "the zipper",
        "the buttons",
        "the stitching",
        "the hem",
        "the lining",
        "the waistband",
        "the straps",
        "the sole",
        "the collar",
        "the pocket",
    ),
    "home_goods": (
        "the handle",
        "the base",
        "the switch",
        "the legs",
        "the lid",
        "the cord",
        "the finish",
        "the seams",
        "the frame",
        "the glass",
    ),
}

_EVENT_CONSUMER: tuple[str, ...] = (
    "my sister's wedding",
    "our vacation",
    "Christmas",
    "my son's birthday",
    "a trip",
    "the holidays",
    "my daughter's graduation",
    "a job interview",
    "Mother's Day",
    "the party",
    "our move",
    "back to school",
    "a conference",
    "Thanksgiving",
)
_EVENT_B2B: tuple[str, ...] = (
    "the shutdown",
    "job start on Monday",
    "the inspection",
    "our opening",
    "the install",
    "the audit",
    "the weekend event",
    "the clinic opening",
    "the outage window",
    "the catering job",
    "the tenant move-in",
)
_SITE: tuple[str, ...] = (
    "the Elm St job",
    "Building C",
    "our Dayton plant",
    "store 114",
    "the north campus",
    "site 7",
    "the Riverside project",
    "our main kitchen",
    "the west warehouse",
    "3rd floor ICU",
    "the Oak Ridge site",
    "our Tulsa branch",
    "unit 12",
)
_NAMES: tuple[str, ...] = (
    "Mike",
    "Sarah",
    "J. Ortiz",
    "Linda",
    "Dave",
    "Priya",
    "Tom K.",
    "Angela",
    "Chris",
    "M. Nguyen",
    "Rob",
    "Karen",
    "Jose",
    "Emily",
    "Ahmed",
    "Beth",
    "Greg",
    "Tanya",
    "Luis",
    "Kim",
    "Pat",
    "Dan Whitfield",
    "Rachel",
    "S. Patel",
)
_TITLES: tuple[str, ...] = (
    "Purchasing",
    "Maintenance Supervisor",
    "Materials Manager",
    "Buyer",
    "Procurement",
    "Service Manager",
    "Kitchen Manager",
    "Central Supply",
    "Ops",
    "Store Manager",
    "Project Manager",
    "Facilities",
)
_DAYS_RANDOM: tuple[str, ...] = (
    "two days",
    "3 days",
    "a week",
    "one week",
    "10 days",
    "two weeks",
    "3 weeks",
    "a month",
    "about a month",
    "6 weeks",
    "two months",
    "3 months",
    "a few days",
    "one day",
    "a couple weeks",
    "a few weeks",
)


def _humanize_days(days: int, rng: random.Random) -> str:
    """Render a number of days the way people say it ("3 weeks", "a month")."""
    if days <= 1:
        return rng.choice(("one day", "a day", "1 day", "the first day"))
    if days < 7:
        return rng.choice((f"{days} days", f"{days} days", "a few days"))
    if days < 14:
        return rng.choice(("a week", "one week", f"{days} days", "about a week"))
    if days < 60:
        weeks = days // 7
        return rng.choice((f"{weeks} weeks", f"{days} days", f"about {weeks} weeks"))
    months = max(2, days // 30)
    return rng.choice((f"{months} months", f"about {months} months", f"{days} days"))


def _pn(rng: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTVX"
    core = rng.choice(
        (
            f"{rng.randint(100, 9999)}-{rng.randint(10, 99)}{rng.choice(letters)}",
            f"{rng.choice(letters)}{rng.choice(letters)}{rng.randint(1000, 99999)}",
            f"{rng.randint(10000, 999999)}",
            f"{rng.choice(letters)}{rng.randint(10, 999)}-{rng.randint(100, 999)}",
        )
    )
    return core


def _po(rng: random.Random) -> str:
    return rng.choice(
        (
            f"45{rng.randint(10000000, 99999999)}",
            f"{rng.randint(10000, 999999)}",
            f"PO-{rng.randint(1000, 99999)}",
            f"{rng.choice('ABCDKMT')}{rng.randint(1000, 99999)}",
        )
    )


def _order(rng: random.Random) -> str:
    return rng.choice(
        (
            f"{rng.randint(100, 999)}-{rng.randint(10**6, 10**7)}-{rng.randint(10**6, 10**7)}",
            f"{rng.randint(100000, 9999999)}",
            f"W{rng.randint(10000000, 99999999)}",
            f"SO{rng.randint(100000, 999999)}",
        )
    )


def _lot(rng: random.Random) -> str:
    return rng.choice(
        (
            f"{rng.randint(20, 25)}{rng.choice('ABCDEFGH')}{rng.randint(1000, 9999)}",
            f"L{rng.randint(100000, 999999)}",
            f"{rng.randint(1000000, 9999999)}",
        )
    )


def _date(rng: random.Random) -> str:
    m = rng.randint(1, 12)
    y = rng.randint(23, 26)
    d = rng.randint(1, 28)
    return rng.choice((f"{m:02d}/{y}", f"{m}/{d}/{y}", f"20{y}-{m:02d}", f"{m:02d}/20{y}"))


def _serial(rng: random.Random) -> str:
    chars = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    return "".join(rng.choice(chars) for _ in range(rng.randint(8, 12)))


def _qty(rng: random.Random) -> str:
    return str(rng.choice((1, 2, 2, 3, 4, 5, 6, 10, 12, 20, 24, 25, 50, 100)))


# Small word classes for compositional templates ("{intens} {tight} in the {body}"). A key
# ending in "2" (e.g. "{body2}") draws a value different from the key without it.
_WORDS: dict[str, tuple[str, ...]] = {
    "intens": (
        "way",
        "very",
        "really",
        "super",
        "so",
        "much",
        "a bit",
        "a little",
        "slightly",
        "extremely",
        "ridiculously",
        "pretty",
        "quite",
        "incredibly",
        "way too",
        "too",
    ),
    "amt": (
        "a size",
        "a full size",
        "two sizes",
        "at least one size",
        "half a size",
        "one size",
        "a couple sizes",
    ),
    "runsz": ("small", "big", "large", "tiny", "huge", "short", "long", "narrow"),
    "tight": ("tight", "snug", "small", "restrictive", "constricting", "narrow", "short"),
    "loose": (
        "loose",
        "baggy",
        "big",
        "roomy",
        "wide",
        "boxy",
        "huge",
        "oversized",
        "voluminous",
        "long",
    ),
    "body": (
        "bust",
        "chest",
        "shoulders",
        "hips",
        "waist",
        "arms",
        "thighs",
        "back",
        "rib cage",
        "butt",
        "calves",
        "upper arms",
        "neck",
        "armpits",
        "midsection",
        "tummy area",
        "seat",
    ),
    "lenpart": (
        "the sleeves are",
        "the torso is",
        "the inseam is",
        "the length is",
        "the rise is",
        "the straps are",
        "the skirt is",
        "the legs are",
        "the body is",
        "the hem is",
    ),
    "len": ("short", "long"),
    "frame": (
        "5'0",
        "5'1",
        "5'2",
        "5'3",
        "5'4",
        "5'5",
        "5'6",
        "5'7",
        "5'8",
        "5'9",
        "5'10",
        "5'11",
    ),
    "shape": (
        "petite",
        "curvy",
        "an hourglass",
        "pear shaped",
        "athletic",
        "tall",
        "short waisted",
        "long waisted",
        "broad shouldered",
        "busty",
        "slim",
        "plus size",
        "small busted",
    ),
    "cantdo": (
        "zip it up",
        "button it",
        "get it over my head",
        "get it past my hips",
        "breathe",
        "lift my arms",
        "sit down",
        "close it",
        "get my arm through the sleeve",
        "bend over",
    ),
    "cutfor": (
        "taller",
        "shorter",
        "flat chested",
        "much curvier",
        "narrower",
        "bigger busted",
        "with no hips",
        "a lot smaller",
    ),
    "updown": ("up", "down"),
    "cheap": (
        "cheap",
        "thin",
        "flimsy",
        "scratchy",
        "stiff",
        "papery",
        "see-through",
        "rough",
        "shiny",
        "plasticky",
        "itchy",
        "sheer",
        "transparent",
        "synthetic feeling",
        "low grade",
        "stretchy and thin",
    ),
    "material": ("fabric", "material", "knit", "cloth", "lining", "weave", "cotton"),
    "washfail": (
        "pilled",
        "shrank",
        "faded",
        "lost its shape",
        "started unraveling",
        "got little holes",
        "stretched out",
        "bled onto everything",
        "shrank two sizes",
        "got all fuzzy",
        "twisted at the seams",
    ),
    "nwash": (
        "one wash",
        "the first wash",
        "two washes",
        "a couple of washes",
        "three wears",
        "one wear",
        "a few wears",
        "the first wear",
        "wearing it once",
    ),
    "partfail": (
        "came apart",
        "started to fray",
        "came undone",
        "ripped",
        "unraveled",
        "split open",
        "popped",
        "came loose",
        "fell off",
    ),
    "aspect": (
        "sound quality",
        "audio",
        "volume",
        "battery life",
        "reception",
        "mic",
        "range",
        "picture quality",
        "voice recognition",
        "bass",
        "call quality",
        "build quality",
        "speaker",
        "camera",
        "screen",
        "connection range",
        "charging speed",
        "sound",
    ),
    "qbad": (
        "poor",
        "terrible",
        "awful",
        "weak",
        "bad",
        "mediocre",
        "disappointing",
        "a joke",
        "subpar",
        "really bad",
        "horrible",
        "not good",
        "pretty bad",
        "lousy",
        "not great",
    ),
    "flimsy": (
        "flimsy",
        "cheap",
        "fragile",
        "wobbly",
        "loose",
        "thin",
        "brittle",
        "weak",
        "chintzy",
    ),
    "dead": (
        "died",
        "quit",
        "stopped working",
        "went dead",
        "gave out",
        "stopped charging",
        "bricked itself",
        "shut off for good",
        "failed",
        "quit on me",
        "crapped out",
        "conked out",
        "stopped responding",
        "just quit",
    ),
    "onoff": (
        "won't turn on",
        "won't power up",
        "doesn't turn on",
        "has no power",
        "won't boot",
        "won't start",
        "won't charge",
        "doesn't respond",
        "is completely dead",
        "doesn't work at all",
        "won't do anything",
    ),
    "pic": (
        "picture",
        "photos",
        "pictures online",
        "listing",
        "product photo",
        "photo on the model",
        "website",
        "description",
        "ad",
        "product page",
        "catalog",
    ),
    "attr": (
        "color",
        "material",
        "fabric",
        "finish",
        "shape",
        "pattern",
        "texture",
        "brand",
        "style",
        "size",
        "design",
        "print",
    ),
    "feature": (
        "pockets",
        "a lining",
        "a battery",
        "a remote",
        "a second port",
        "a display",
        "the stainless finish",
        "the embroidery",
        "a timer",
        "a handle",
        "the backlight",
        "a hood",
        "an auto shutoff",
    ),
    "compat": (
        "doesn't work with",
        "isn't compatible with",
        "won't connect to",
        "won't pair with",
        "isn't supported by",
        "can't be used with",
        "won't sync with",
        "won't fit",
        "is not made for",
        "doesn't fit",
    ),
    "misled": (
        "are misleading",
        "are deceptive",
        "are not accurate",
        "are way off",
        "are photoshopped",
        "don't show what you actually get",
        "are totally different",
    ),
    "arrived": ("Arrived", "It arrived", "Came", "Showed up", "Got here", "It was delivered"),
    "dmgadj": (
        "crushed",
        "dented",
        "cracked",
        "broken",
        "smashed",
        "in pieces",
        "bent",
        "scratched up",
        "leaking",
        "torn",
        "chipped",
        "shattered",
        "busted",
        "all banged up",
    ),
    "dmgtail": (
        " because of bad packaging",
        ", the box was destroyed",
        ", clearly mishandled",
        " in shipping",
        " in transit",
        ", the carrier must have dropped it",
        ", box was caved in",
        "",
        "",
        " from the shipping",
    ),
    "wattr": (
        "size",
        "color",
        "model",
        "item",
        "part",
        "style",
        "quantity",
        "version",
        "pattern",
    ),
    "missverb": (
        "was missing",
        "wasn't included",
        "is not in the box",
        "never came",
        "wasn't in the package",
        "is nowhere to be found",
        "was left out",
    ),
    "nln": (
        "Just didn't like it.",
        "Didn't love it on me.",
        "The style wasn't for me.",
        "Not for me.",
        "Didn't need it after all.",
        "I found something I like better.",
        "My husband didn't like it.",
        "The kids didn't want it.",
        "Changed plans.",
        "Realized I already have one.",
        "Ordered two colors to decide and I'm keeping the other.",
        "It's cute but I have nothing to wear it with.",
        "Impulse buy, I don't need it.",
        "Looks too young for me.",
        "Too dressy for what I wanted.",
        "I don't use it enough to keep it.",
        "Decided to go another direction.",
        "Went with a different one.",
        "Just not what I wanted after all.",
        "It's fine, just not my taste.",
    ),
}


class _Fill(dict[str, str]):
    """Placeholder values created on first use, so a note only pays for what it mentions."""

    def __init__(self, rng: random.Random, spec: NoteSpec) -> None:
        super().__init__()
        self.rng = rng
        self.spec = spec
        self["product"] = spec.product

    def __missing__(self, key: str) -> str:
        rng = self.rng
        cat = self.spec.category
        value: str
        if key == "days":
            if self.spec.used_days is not None:
                value = _humanize_days(self.spec.used_days, rng)
            else:
                value = rng.choice(_DAYS_RANDOM)
        elif key == "size":
            value = rng.choice(_SIZES[cat])
        elif key == "size2":
            first = self["size"]
            value = rng.choice(_SIZES[cat])
            while value == first:
                value = rng.choice(_SIZES[cat])
        elif key == "color":
            value = rng.choice(_COLORS)
        elif key == "color2":
            first = self["color"]
            value = rng.choice(_COLORS)
            while value == first:
                value = rng.choice(_COLORS)
        elif key == "platform":
            value = rng.choice(_PLATFORM[cat])
        elif key == "acc":
            value = rng.choice(_ACCESSORY[cat])
        elif key == "part":
            value = rng.choice(_PART[cat])
        elif key in ("pn", "pn2"):
            value = _pn(rng)
        elif key == "po":
            value = _po(rng)
        elif key == "order":
            value = _order(rng)
        elif key in ("qty", "qty2"):
            value = _qty(rng)
            if key == "qty2":
                while value == self["qty"]:
                    value = _qty(rng)
        elif key == "n":
            value = str(rng.randint(1, 12))
        elif key in ("name", "name2"):
            value = rng.choice(_NAMES)
            while key == "name2" and value == self["name"]:
                value = rng.choice(_NAMES)
        elif key == "title":
            value = rng.choice(_TITLES)
        elif key == "lot":
            value = _lot(rng)
        elif key == "date":
            value = _date(rng)
        elif key == "serial":
            value = _serial(rng)
        elif key == "event":
            value = rng.choice(_EVENT_B2B if self.spec.voice != "consumer" else _EVENT_CONSUMER)
        elif key == "site":
            value = rng.choice(_SITE)
        elif key == "months":
            value = str(rng.choice((1, 2, 2, 3, 3, 4, 6)))
        elif key in _WORDS:
            value = rng.choice(_WORDS[key])
        elif key.endswith("2") and key[:-1] in _WORDS:
            first = self[key[:-1]]
            value = rng.choice(_WORDS[key[:-1]])
            while value == first:
                value = rng.choice(_WORDS[key[:-1]])
        else:
            raise KeyError(f"unknown placeholder {{{key}}} in a note template")
        self[key] = value
        return value


# ---------------------------------------------------------------------------------------------
# Problem statements, consumer voice. "*" = any category. Each entry is one sentence (or two)
# that states the primary reason on its own.
# ---------------------------------------------------------------------------------------------

_CONSUMER_PROBLEM: dict[ReasonCode, dict[str, tuple[str, ...]]] = {
    R.DAMAGED_IN_TRANSIT: {
        "*": (
            "It arrived damaged.",
            "The box was completely crushed and the {product} inside was damaged.",
            "Arrived broken, the package looked like it had been dropped from a truck.",
            "The {product} came with a big dent in it, the box was smashed on one corner.",
            "Shipping box was torn open and the item was banged up.",
            "Came damaged in shipping.",
            "It was cracked when I opened the package, the box had obviously been crushed.",
            "The carrier must have thrown it, it showed up broken.",
            "Package arrived soaking wet and the {product} is ruined.",
            "Box was destroyed when it got here and so was what was inside.",
            "Opened the box and it was in pieces. No padding at all in the packaging.",
            "Arrived with a huge crack down the side, packaging was beat up.",
            "The outer carton was crushed flat and {part} is bent.",
            "Delivered damaged, the box had a hole punched through it.",
            "My {product} arrived scratched and dented, clearly damaged in transit.",
            "It came broken. The box had tire marks on it, no joke.",
            "UPS left it in the rain and the box fell apart, item is damaged.",
            "The item was damaged on arrival, it rattled when I picked up the box.",
            "Broken in the mail.",
            "Poorly packed, it bounced around in the box and arrived chipped.",
            "Showed up smashed.",
            "FedEx destroyed it. Box crushed, {product} cracked.",
            "Arrived dented. Packaging was not great, just thrown loose in a big box.",
            "The delivery driver dropped it and you could tell, {part} is cracked.",
        ),
        "industrial_parts": (
            "The gauge glass was cracked when it came out of the box.",
            "Crate was smashed and the flange is bent.",
            "Threads are dinged up, looks like it was dropped in shipping.",
            "The housing is cracked, the carton was crushed on one end.",
            "Forklift damage on the pallet, two of the units are bent.",
            "The {product} arrived with a dented body and the box was torn.",
        ),
        "electronics": (
            "The screen was cracked right out of the box, the package was crushed.",
            "Arrived with a shattered display, box was dented.",
            "The {product} came with a cracked case and the box was beat up.",
            "Plastic housing is cracked, box looked like it went through a war.",
            "Screen came smashed. The shipping box had a big dent right where the screen was.",
        ),
        "medical_supplies": (
            "Box was crushed and several of the sterile pouches are punctured.",
            "Packaging seal was broken when it arrived, the carton was torn open.",
            "The case was wet on arrival and the boxes inside are soaked.",
            "Arrived with the bottles leaking all over the box.",
            "Outer carton crushed, the {product} packs inside are torn.",
        ),
        "food_service": (
            "Case arrived crushed, several cans are dented.",
            "The jugs were leaking in the box when it got here.",
            "Half the {product} arrived cracked, box was crushed.",
            "The pallet was tipped over and the cases are smashed.",
            "Arrived leaking, oil all over the carton.",
            "Lids were crushed in shipping, the whole sleeve is bent.",
            "The frozen box arrived thawed and torn open.",
        ),
        "apparel": (
            "The package was ripped open and the {product} was dirty.",
            "Bag was torn in shipping and there's a grease stain on the {product}.",
            "Arrived soaking wet, the mailer had a hole in it.",
            "Came in a torn bag with a tire mark on the {product}.",
            "The shoe box was crushed and the boots are scuffed up.",
        ),
        "home_goods": (
            "The mirror arrived shattered.",
            "Legs snapped off in the box, the carton was crushed.",
            "The {product} came chipped and the box was dented.",
            "Glass was broken in a hundred pieces when I opened it.",
            "Corner of the {product} is dented and the box was smashed.",
            "Arrived cracked. Packaging was thin styrofoam and it broke in transit.",
        ),
    },
    R.DEFECTIVE: {
        "*": (
            "It doesn't work.",
            "Does not work at all.",
            "Stopped working after {days}.",
            "It worked for {days} and then just died.",
            "Dead on arrival.",
            "Never worked, not even once.",
            "It broke after {days} of normal use.",
            "The {product} quit working after {days}.",
            "Worked fine at first but after {days} it started acting up and now it's dead.",
            "Defective. Doesn't do what it's supposed to do.",
            "Plugged it in only to find nothing worked.",
            "Mine was defective right out of the box.",
            "It malfunctions constantly.",
            "{part} stopped working after {days}.",
            "Within {days} it was no longer working.",
            "The {product} is faulty.",
            "It works sometimes and sometimes it doesn't, very intermittent.",
            "Lasted {days} and then quit.",
            "Broke the first time I used it.",
            "Received a defective unit.",
            "It suddenly died after {days}.",
            "This one is a dud.",
            "Simply does not function.",
            "It worked great, but it broke after {days} of use.",
            "Mine arrived not working.",
        ),
        "industrial_parts": (
            "The bearing seized after {days} in service.",
            "Valve leaks through when it's fully closed.",
            "Gauge needle doesn't move, stuck at zero.",
            "Motor hums but won't turn.",
            "Solenoid won't actuate, coil is open.",
            "The {product} reads about 20 psi high, it's out of calibration.",
            "Sensor never switches, no output signal.",
            "Seal started leaking under pressure after {days}.",
            "Pump won't build pressure.",
            "The coupling cracked after {days} of running.",
            "Tripped the breaker the moment we powered it up.",
            "Wrench clicks way before the set torque, it's not accurate.",
        ),
        "electronics": (
            "Won't power on.",
            "It won't turn on no matter what I do.",
            "Won't charge.",
            "Doesn't hold a charge.",
            "Battery won't charge past 20 percent.",
            "Screen went black after {days} and won't come back.",
            "Keeps rebooting in the middle of everything.",
            "Won't connect to wifi, keeps dropping the connection.",
            "It keeps disconnecting every few minutes.",
            "Won't pair with anything, light just blinks.",
            "Only one earbud plays sound.",
            "The mic doesn't work, nobody can hear me.",
            "The charging port stopped working after {days}.",
            "It freezes and then shuts off by itself.",
            "No sound comes out at all.",
            "It gets really hot and then shuts down.",
            "Touch screen doesn't respond in the lower half.",
            "The scanner won't read any barcodes.",
            "Buttons don't respond.",
            "Lights up for a second then goes dead.",
            "The speaker crackles and then cuts out completely.",
            "Charged it overnight and it still won't turn on.",
        ),
        "medical_supplies": (
            "The thermometer gives an error every time.",
            "Cuff won't inflate.",
            "Oximeter won't turn on even with new batteries.",
            "Readings are all over the place, way off from our other unit.",
            "Nebulizer barely produces any mist, the compressor is failing.",
            "The syringes stick, plunger won't move smoothly.",
            "Display shows E3 and won't take a reading.",
            "Test strips give error codes on every test.",
            "Unit beeps and shuts off after a few seconds.",
        ),
        "food_service": (
            "Dispenser won't pump.",
            "The thermometer reads 20 degrees off.",
            "Blender motor burned out after {days}.",
            "Probe gives random readings, useless.",
            "The pump stopped dispensing after {days}.",
            "Motor smells like it's burning and stops.",
            "The heating element doesn't heat.",
        ),
        "apparel": (
            "The zipper is broken, it won't zip.",
            "Zipper broke the first time I wore it.",
            "The snap won't close.",
            "Heated jacket won't heat up at all.",
            "The zipper pull came off the first day.",
            "Buckle is broken and won't latch.",
            "The sole separated after {days}.",
        ),
        "home_goods": (
            "The lamp flickers and then goes out.",
            "Kettle won't heat.",
            "Vacuum lost suction after {days}.",
            "The coffee maker leaks all over the counter every time it brews.",
            "Switch doesn't work.",
            "The air purifier fan makes a grinding noise and stops.",
            "Won't turn on.",
            "Stopped working after {days}, the motor just quit.",
            "The chair won't stay up, the gas cylinder sinks.",
        ),
    },
    R.WRONG_ITEM: {
        "*": (
            "I received the wrong item.",
            "This is not what I ordered.",
            "They sent me the wrong {product}.",
            "I ordered a {size} and received a {size2}.",
            "Ordered {color} and got {color2}.",
            "Wrong item shipped.",
            "The package had a completely different product in it.",
            "Received someone else's order.",
            "I ordered {qty} and only {qty2} came.",
            "The label on the box says {size} but the one inside is a {size2}.",
            "Got the wrong color. I ordered {color}, this is {color2}.",
            "Item received does not match my order.",
            "You sent the wrong model.",
            "This isn't the item I ordered at all.",
            "My order says {size} but you sent {size2}.",
            "Received the wrong size, I definitely ordered a {size}.",
            "Sent the wrong one. Not even close to what I picked.",
            "The packing slip is right but the item inside is wrong.",
            "Opened the box and it's a different {product} than the one I ordered.",
            "I got two of the same instead of the two different ones I ordered.",
            "Wrong color sent.",
            "Got a {size2} even though my order confirmation clearly says {size}.",
        ),
        "industrial_parts": (
            "Received part number {pn2}, ordered {pn}.",
            "Wrong thread size shipped, we ordered {size} and got {size2}.",
            "Part number on the box doesn't match what we ordered.",
            "You sent the {size2} version, order was for {size}.",
            "Wrong voltage coil, we ordered {size} and it's {size2}.",
        ),
        "electronics": (
            "I ordered the {size} version and got the {size2} one.",
            "Received an older model than the one I ordered.",
            "Box says one model, the device inside is a different one.",
            "Ordered the {color} one and a {color2} one showed up.",
            "They sent a {size2} cable, I ordered {size}.",
        ),
        "medical_supplies": (
            "We ordered {size} gloves and received {size2}.",
            "Received {size2} instead of the {size} we ordered.",
            "Wrong item, these are latex and we ordered nitrile.",
            "Shipped the pediatric ones, we ordered adult.",
        ),
        "food_service": (
            "Ordered {size} and got {size2}.",
            "Received the wrong case, this is a different product.",
            "Sent us the {size2} lids, order was for {size}.",
            "We got regular instead of the low sodium we ordered.",
        ),
        "apparel": (
            "I ordered a {size} and got a {size2}.",
            "Tag says {size2}, I ordered {size}.",
            "Ordered the {color} and they sent {color2}.",
            "Received a completely different style than the one pictured in my order.",
            "Got the men's version, I ordered women's.",
            "Ordered petite and got regular.",
        ),
        "home_goods": (
            "Ordered {size} and a {size2} came.",
            "Received the {color2} one, I ordered {color}.",
            "Wrong pattern sent.",
            "The box had a different set than the one I ordered.",
        ),
    },
    R.NOT_AS_DESCRIBED: {
        "*": (
            "Looks nothing like the picture.",
            "Not as described.",
            "Not what I thought it would be based on the description.",
            "The description is misleading.",
            "Item does not match the picture.",
            "The color is completely different from the photo.",
            "It's not what was advertised.",
            "Listing says one thing and the product is something else.",
            "This is a knockoff, not the real thing.",
            "Pretty sure this is counterfeit.",
            "The picture shows a much nicer {product} than what arrived.",
            "Way smaller than it looks in the photos.",
            "Nothing like what's shown online.",
            "The description said it had features this one just doesn't have.",
            "It was listed as new but it's clearly refurbished.",
            "Misleading photos. In person it looks cheap and totally different.",
            "The specs in the listing are wrong for this {product}.",
            "It works, but it's not the {product} in the listing.",
            "Listed as {color}, it is definitely {color2}.",
            "Falsely advertised.",
            "Not the brand that was advertised.",
            "Product photos are not accurate at all.",
            "The listing said it was stainless steel, it's painted metal.",
            "The page shows a set but the fine print says single, very misleading.",
        ),
        "industrial_parts": (
            "Spec sheet says rated to 300 psi, the tag on the {product} says 150.",
            "Listed as stainless but it's plated carbon steel.",
            "Description says sealed bearing, this one is open.",
            "Not the OEM part as advertised, it's an aftermarket copy.",
            "Dimensions don't match the drawing on your site.",
            "Listing said brass, this is zinc.",
        ),
        "electronics": (
            "The listing says wireless but it has to be plugged in all the time.",
            "Advertised 10 hour battery, it's nowhere near that and the box says 4.",
            "Doesn't have the noise cancelling the listing talks about.",
            "It's not genuine, the logo is off and the box is a fake.",
            "Description says 4K, it only does 1080p.",
            "Says it has a rechargeable battery, there is none.",
            "It's a refurbished unit sold as new.",
            "The page says 65W fast charging, the brick says 18W.",
            "No screen like in the pictures, just a light ring.",
        ),
        "medical_supplies": (
            "Listing said latex free but the box says contains natural rubber latex.",
            "Described as sterile, the packaging says non-sterile.",
            "These are not the brand shown in the listing.",
            "Says 100 per box in the description, box is labeled 50.",
            "Advertised as FDA cleared, I can't find any marking on the box.",
        ),
        "food_service": (
            "Listed as heavy gauge, these are thin and flimsy compared to the description.",
            "Described as BPA free, the label doesn't say that anywhere.",
            "The description says compostable, these are plastic lined.",
            "Not the brand shown in the photo.",
            "Listing says commercial grade, box says for household use only.",
        ),
        "apparel": (
            "The color is nothing like the picture, it's much darker in person.",
            "Looks nothing like it does on the model.",
            "Listed as 100% cotton, the tag says polyester.",
            "Fabric is way more sheer than the photo shows.",
            "Colour different from the picture, online it's {color} and this is {color2}.",
            "It's not lined like the description says.",
            "The print is totally different from the photo.",
            "Pictures make it look structured and tailored, in person it's a shapeless sack.",
            "Description said waterproof, it soaks through in light rain.",
            "Not the same fabric as shown, it's shiny and synthetic.",
        ),
        "home_goods": (
            "Color is not the same as the picture at all.",
            "Described as solid wood, it's particle board with a sticker finish.",
            "Listing said machine washable, the tag says dry clean only.",
            "Much smaller than the dimensions in the listing.",
            "The pattern looks completely different in person.",
            "Pictured with a matching base that isn't part of the product at all, misleading.",
        ),
    },
    R.SIZE_FIT: {
        "*": (
            "Too small.",
            "Too big.",
            "It's way too small for me.",
            "Way too large.",
            "It doesn't fit.",
            "The size is just wrong for me.",
            "Too big for what I need.",
            "Just didn't fit right.",
            "Much bigger than I expected, it doesn't fit the space.",
            "Dimensions are too small for what I need.",
            "Way too big for my space.",
        ),
        "industrial_parts": (
            "The gloves are too small for our crew's hands.",
            "It's too long to fit in the space we have.",
            "Too big to fit inside the cabinet.",
            "The {product} is too short to reach, we need a longer one.",
            "Bore is too tight, won't slide on the shaft without forcing it.",
        ),
        "electronics": (
            "The earbuds don't fit my ears, they keep falling out.",
            "Watch band is too small for my wrist.",
            "Way too bulky, I thought it would be smaller.",
            "Too big for my desk.",
            "The earpiece is uncomfortable and doesn't fit my ear.",
            "It's too small to read, the screen is tiny for my eyes.",
            "Headband is too tight, gives me a headache.",
            "This thing is huge, way bigger than I need.",
        ),
        "medical_supplies": (
            "The gloves are too tight, we need a size up.",
            "Compression stockings are too tight around the calf.",
            "Cuff is too small for the patient's arm.",
            "Masks are too big, gaps on the sides.",
            "Scrubs run large, they're swimming in them.",
            "Too small for adult patients.",
        ),
        "food_service": (
            "Aprons run short.",
            "The pan is too big for our oven.",
            "Containers are too small for our portions.",
            "Too tall to fit under our shelving.",
            "The cutting board is too big for our prep station.",
        ),
        "apparel": (
            "Runs small.",
            "Runs very small, I usually wear a {size} and this was tight.",
            "Runs two sizes small.",
            "Runs really large, had to size down.",
            "Way too big, it was swimming on me.",
            "Too tight in the bust.",
            "Tight across the shoulders and chest.",
            "Too tight in the hips and thighs.",
            "The waist is too small and the legs are too long.",
            "Too short in the torso.",
            "Sleeves are too long.",
            "Boxy and unflattering, way too much fabric.",
            "It was way too short on me, I'm 5'8.",
            "The fit is off, too big in the shoulders and tight at the waist.",
            "Sized up and it was still too small.",
            "Doesn't fit. The {size} is more like an XS.",
            "Way too long, I'm only 5'2 and it dragged on the floor.",
            "Cut very narrow, I could barely zip it.",
            "Armholes are huge and it gapes.",
            "Fits like a tent.",
            "I couldn't get it over my hips.",
            "The rise is too low and it keeps sliding down.",
            "Not true to size. I'm always a {size} and this was snug.",
            "Too tight, could barely button it.",
            "The boots run narrow, pinches my toes.",
            "Fits big, I'd go a full size down.",
            "The inseam is way too short.",
            "Hits at a weird spot on my legs, too long for petite.",
        ),
        "home_goods": (
            "Too small for a queen bed, doesn't cover the sides.",
            "Doesn't fit my window, too short.",
            "The rug is smaller than I thought, looks tiny in the room.",
            "Too big for my counter.",
            "The chair is too low for my desk.",
            "The duvet cover is too big for my comforter.",
            "Doesn't fit in the cabinet, too tall.",
        ),
    },
    R.INCOMPATIBLE: {
        "*": (
            "Not compatible with {platform}.",
            "Doesn't work with {platform}.",
            "It won't work with {platform}, which is the whole reason I bought it.",
            "Incompatible with {platform}.",
            "Does not fit {platform}.",
            "Turns out it's not compatible with what I have.",
            "Would not work with {platform} no matter what I tried.",
            "It works, just not with {platform}.",
            "Not made for {platform}.",
            "Can't get it to work with {platform}, it's not supported.",
        ),
        "industrial_parts": (
            "Doesn't fit our machine.",
            "Thread is NPT and our system is BSP, won't seal.",
            "Won't mount to {platform}, the bolt pattern is different.",
            "Not compatible with {platform}, different shaft diameter.",
            "Wrong connector for {platform}.",
            "The coil voltage doesn't match {platform}.",
            "Doesn't interface with our PLC.",
        ),
        "electronics": (
            "Doesn't work with my phone.",
            "The case doesn't fit my phone, wrong model.",
            "Won't pair with {platform}.",
            "Doesn't support Apple Music, so it's useless to me.",
            "Not compatible with my Android version.",
            "The charger doesn't fit my phone's port.",
            "Plug doesn't fit the outlets here, would need a converter.",
            "App isn't available for {platform}.",
            "Doesn't work with my car's bluetooth.",
            "Won't connect to my 5GHz network, only supports 2.4.",
            "The scanner won't talk to our POS system.",
            "Doesn't charge my phone, says accessory not supported.",
            "Doesn't support my carrier.",
            "Cannot connect it to my TV, no matching input.",
        ),
        "medical_supplies": (
            "Test strips don't work with our meter.",
            "Doesn't fit our infusion pumps.",
            "Cuffs don't connect to {platform}.",
            "The tubing connector doesn't match {platform}.",
            "Won't fit the wall mounted dispensers we have.",
        ),
        "food_service": (
            "The filters don't fit our brewer.",
            "Lids don't fit our cups.",
            "Doesn't fit our dispensers.",
            "The pans don't fit {platform}.",
            "Won't work on our induction range.",
            "The refill bags don't fit {platform}.",
        ),
        "apparel": (
            "The liner doesn't zip into my jacket.",
            "Doesn't fit with {platform}.",
            "The replacement laces don't fit the eyelets on my boots.",
            "The vest doesn't work with my harness.",
        ),
        "home_goods": (
            "The bulb doesn't fit my fixture.",
            "Filter doesn't fit my vacuum model.",
            "Won't work on my induction cooktop.",
            "Doesn't work with Google Home.",
            "The pods don't fit {platform}.",
            "The rings don't fit my curtain rod.",
        ),
    },
    R.QUALITY: {
        "*": (
            "Poor quality.",
            "Cheaply made.",
            "Feels cheap.",
            "Very flimsy.",
            "Not worth the money.",
            "The quality is terrible for the price.",
            "It works, but it feels like it's going to fall apart.",
            "Really poor workmanship.",
            "Low quality materials.",
            "Not good enough for the price.",
            "It's junk.",
            "Feels like a cheap toy.",
            "Does the job, barely. Quality is bad.",
            "Expected much better quality.",
            "For what it costs, I expect it to work far better than this.",
            "Flimsy plastic, scratches if you look at it.",
            "Poorly made and already showing wear after {days}.",
            "Just not a well made {product}.",
            "The finish is rough and sloppy.",
            "Cheap and it shows.",
            "Build quality is poor.",
            "Started wearing out after {days}, way too fast.",
            "{part} feels like it will break any day.",
            "Bad quality.",
        ),
        "industrial_parts": (
            "Rough casting with burrs all over the edges.",
            "The welds are sloppy.",
            "Needle wobbles and is hard to read.",
            "Rusted after {days} outside.",
            "Bits went dull after one job.",
            "Machining is poor, you can feel the tool marks.",
            "Belt is already cracking after {days}.",
            "Works, but it's noisy and vibrates more than the old one.",
        ),
        "electronics": (
            "Sound quality is poor.",
            "The volume is very low, can't hear it across the room.",
            "Battery life is short, lasts a couple hours at most.",
            "The battery runs down really quickly.",
            "There's static on every call.",
            "Reception is poor.",
            "People say I sound muffled on calls.",
            "It's very slow and laggy.",
            "Audio sounds tinny.",
            "The speaker sounds cheap and distorts at higher volume.",
            "It doesn't understand half of what I say.",
            "The plastic is thin and creaks.",
            "Charges really slowly, takes forever.",
            "The case is slippery and feels cheap.",
            "Picture quality is grainy.",
            "Cable frayed after {days}.",
            "Ear loop feels weak, flimsy design.",
            "The mic quality is a joke.",
        ),
        "medical_supplies": (
            "The gloves tear when you put them on.",
            "The tape doesn't stick.",
            "Gauze sheds fibers everywhere.",
            "The masks are thin and the ear loops snap.",
            "Dressing adhesive peels off in a few hours.",
            "Needles feel dull compared to what we normally use.",
            "Stockings ran after {days}.",
        ),
        "food_service": (
            "Containers crack in the freezer.",
            "The knife lost its edge after {days}.",
            "Pans warp in the oven.",
            "Cups are thin and hot coffee makes them soft.",
            "Napkins are thin and fall apart.",
            "Film doesn't cling, it's too thin.",
            "Coating started peeling after {days}.",
            "Lids pop off too easily.",
        ),
        "apparel": (
            "Fabric is thin and see-through.",
            "The material is cheap and thin.",
            "The material feels cheap and scratchy.",
            "Started pilling after one wash.",
            "Shrank after the first wash.",
            "The seams came apart after wearing it twice.",
            "Stitching is coming loose already.",
            "Color faded after a couple of washes.",
            "The fabric is itchy.",
            "Wrinkles like crazy.",
            "Threads hanging everywhere, it's unraveling.",
            "The fabric snagged the first time I wore it.",
            "Very cheap feeling polyester.",
            "Thin material, you can see right through it.",
            "It's not flattering and the material is stiff and cheap.",
            "The hem came undone after one wear.",
            "Buttons fell off the first week.",
            "Fabric is scratchy and uncomfortable.",
            "Looks cheap in person, the fabric is shiny.",
            "Lost its shape after one wash.",
        ),
        "home_goods": (
            "Towels shed lint everywhere.",
            "Paint is chipping already.",
            "Wobbly and poorly made.",
            "The sheets pill after one wash.",
            "The finish scratches really easily.",
            "The non-stick coating is already coming off.",
            "Flimsy, bends if you put anything heavy on it.",
            "Vacuum works but the suction is weak.",
            "Colors faded after the first wash.",
            "The stuffing is lumpy and flat.",
        ),
    },
    R.MISSING_PARTS: {
        "*": (
            "Missing parts.",
            "It came without {acc}.",
            "{acc} was missing from the box.",
            "Box was missing {acc}.",
            "Parts missing, can't use it.",
            "Incomplete, there was no {acc} in the package.",
            "Items stated as included were not in the box.",
            "Some of the pieces are missing.",
            "Opened it and {acc} wasn't there.",
            "Missing {acc}, so I can't even use it.",
            "Not all the parts were included.",
            "It's missing pieces.",
            "Came without {acc}.",
            "Only half the parts were in the box.",
            "The kit is incomplete.",
            "Everything was there except {acc}.",
            "No {acc} included even though it's listed in the contents.",
        ),
        "industrial_parts": (
            "Kit came without the o-rings.",
            "No mounting hardware in the box.",
            "Missing the gasket.",
            "Seal kit is incomplete, two seals missing.",
            "The bracket wasn't included.",
        ),
        "electronics": (
            "No charging cable in the box.",
            "Came with no power adapter.",
            "Remote was missing.",
            "There's no charger included.",
            "The earbud tips weren't in the box.",
            "Missing the mounting bracket and screws.",
        ),
        "medical_supplies": (
            "Kit is missing the tubing.",
            "No instructions for use in the box.",
            "Missing the adapter.",
            "The kits are missing the tourniquet.",
        ),
        "food_service": (
            "Case came without lids.",
            "The blender came without the lid.",
            "Missing the pump for the dispenser.",
            "No gasket included.",
        ),
        "apparel": (
            "The belt was missing.",
            "Came without the drawstring.",
            "The hood that's supposed to zip on was not included.",
            "Dress came without the slip.",
            "No laces in the boots.",
        ),
        "home_goods": (
            "Missing screws, can't put it together.",
            "The hardware pack wasn't in the box.",
            "Only three legs came.",
            "Pillow cover came with no insert even though it's a set.",
            "No filter included.",
            "Missing the shade.",
        ),
    },
    R.NO_LONGER_NEEDED: {
        "*": (
            "No longer needed.",
            "Don't need it anymore.",
            "Changed my mind.",
            "Ordered by mistake.",
            "I accidentally ordered two.",
            "Duplicate order.",
            "Bought it by mistake, meant to get a different one.",
            "Found it cheaper somewhere else.",
            "I just don't need it anymore.",
            "Decided I don't want it.",
            "Ordered the wrong one by accident, my mistake.",
            "Not needed anymore, plans changed.",
            "Got one as a gift so I don't need this.",
            "It's fine, I just changed my mind.",
            "Bought a different one in the store before this arrived.",
            "Nothing wrong with it, I just don't want it.",
            "Accidentally hit buy twice.",
            "I don't see a real need for it.",
            "Ended up not using it.",
            "Just not for me.",
            "Not my style after all.",
        ),
        "industrial_parts": (
            "Job was cancelled.",
            "Repaired the old one so we don't need this.",
            "Machine was scrapped, part not needed.",
            "Ordered too many for the project.",
        ),
        "electronics": (
            "Upgraded to a different model, don't need this one.",
            "Too complicated, I don't want to deal with it.",
            "Decided to keep my old one.",
            "I don't really use it, not worth keeping.",
        ),
        "medical_supplies": (
            "Patient was discharged, no longer needed.",
            "Over-ordered.",
            "Switched to a different product line.",
        ),
        "food_service": (
            "Menu changed, we don't use this anymore.",
            "Event cancelled.",
            "Over ordered for the week.",
        ),
        "apparel": (
            "I don't like the style on me.",
            "The color doesn't suit me.",
            "The print is too busy for my taste.",
            "Just not my style.",
            "Didn't like how it looked on me.",
            "Bought two sizes to try and keeping the other one.",
            "Love it but already have one too similar.",
        ),
        "home_goods": (
            "Doesn't go with my decor.",
            "Changed the color scheme of the room.",
            "Moving and don't need it.",
            "Didn't like the look of it in my space.",
        ),
    },
    R.LATE_DELIVERY: {
        "*": (
            "Arrived too late.",
            "It came after {event}, so I don't need it anymore.",
            "Took way too long to arrive.",
            "Delivered two weeks late.",
            "Needed it for {event} and it showed up the day after.",
            "Shipping took forever.",
            "Arrived a week after the promised date.",
            "Came too late to be useful.",
            "Delivery was delayed over and over.",
            "Should have been here in 2 days, took {days}.",
            "Missed the delivery date, had to buy one locally.",
            "By the time it arrived I'd already bought another one.",
            "Late delivery.",
            "It was on backorder and nobody told me, came way too late.",
            "Was supposed to arrive before {event} and didn't.",
            "Tracking said delivered but it came {days} later.",
            "Took {days} to get here.",
        ),
        "industrial_parts": (
            "Missed the shutdown window, we sourced it elsewhere.",
            "Arrived after the line was already back up with a rental.",
        ),
        "electronics": ("Was a gift for {event}, came too late.",),
        "medical_supplies": (
            "Arrived after the procedure date.",
            "Came too late, we borrowed from another floor.",
        ),
        "food_service": (
            "Came after the event, we had to buy locally.",
            "Delivered after service started, useless.",
        ),
        "apparel": (
            "Needed the {product} for {event} and it didn't come in time.",
            "Arrived after {event}, had to wear something else.",
        ),
        "home_goods": (
            "Came after the guests had already left.",
            "Arrived after we moved out.",
        ),
    },
    R.EXPIRED: {
        "*": (
            "It's expired.",
            "Expired product.",
            "Expiration date already passed.",
            "The expiry date on the box is {date}, that's already past.",
            "Came expired.",
            "Way too close to the expiration date.",
            "Short dated, only a few weeks left before it expires.",
            "Past its use-by date.",
            "Received expired items.",
            "Best by date was last month.",
            "Only {months} months until it expires, can't use it all by then.",
            "Shelf life is almost over.",
            "Sold me old stock that's already expired.",
            "Out of date when it arrived.",
        ),
        "industrial_parts": (
            "Sealant is past its shelf life.",
            "The thread locker expired {date}.",
            "Epoxy is expired, cure date is way old.",
            "O-rings are past their shelf life.",
        ),
        "electronics": (
            "The batteries are expired.",
            "The batteries were expired and dead on arrival.",
            "Battery pack says use by {date}, that's past.",
        ),
        "medical_supplies": (
            "Lot {lot} expired {date}.",
            "Lot expired.",
            "The sterile packs are past expiry.",
            "Short dated, expires {date}.",
            "Strips expire in a few weeks.",
            "Sanitizer is expired.",
        ),
        "food_service": (
            "Past the use-by date.",
            "Best by date passed.",
            "Use-by date was two days after delivery.",
            "The cans are past their best by date.",
            "Oil is past the best before date.",
            "Use by {date}, already passed.",
        ),
        "apparel": ("The waterproofing treatment in the box is expired.",),
        "home_goods": (
            "Cleaning solution is expired.",
            "The filter cartridges are past their expiration.",
            "Date on the box says expired {date}.",
        ),
    },
    R.OTHER: {
        "*": (
            "I was charged twice for this order.",
            "Returning for other reasons.",
            "It was a gift and they want store credit.",
            "The price dropped the day after I bought it.",
            "Shipped to the wrong address, I'm returning it from my neighbor's house.",
            "Got a recall notice for this {product}.",
            "Other.",
            "Seller asked me to send it back.",
            "Return per the agreement with customer service.",
            "Has a strong chemical smell, can't keep it in the house.",
            "I had an allergic reaction to it.",
            "Bought it for my mom but she passed away.",
            "Returning because of a billing issue.",
            "Customer service told me to return it and reorder.",
            "My account was charged the wrong price.",
            "Received it as a gift, no receipt, want to exchange.",
            "Tax was charged even though we're exempt.",
        ),
        "industrial_parts": (
            "Stock rotation return per our agreement.",
            "Manufacturer recall on this lot.",
        ),
        "electronics": (
            "Return for the trade-in program.",
            "Warranty exchange as agreed with support.",
        ),
        "medical_supplies": (
            "Recall notice received for this lot.",
            "Consigned stock return.",
        ),
        "food_service": (
            "Manufacturer recall.",
            "Returning per the rebate agreement.",
        ),
        "apparel": (
            "Gift return.",
            "Smells like smoke out of the package.",
        ),
        "home_goods": (
            "Has a strong odor that won't go away.",
            "Gift, wants to exchange for store credit.",
        ),
    },
}


# Compositional templates (word classes from _WORDS) and more review-like phrasings, merged into
# _CONSUMER_PROBLEM below. A "*<category>" key replaces the generic list for that category
# (garments do not "power on").
_CONSUMER_PROBLEM_EXTRA: dict[ReasonCode, dict[str, tuple[str, ...]]] = {
    R.DAMAGED_IN_TRANSIT: {
        "*": (
            "{arrived} {dmgadj}{dmgtail}.",
            "{arrived} {dmgadj}{dmgtail}.",
            "{arrived} {dmgadj} and {dmgadj2}, the box took a beating.",
            "The box was caved in on one side and {part} is {dmgadj}.",
            "Someone clearly dropped this box, {part} was {dmgadj} when I opened it.",
            "The {product} was {dmgadj} inside a box with no padding.",
            "Outer box was fine but it was packed so badly that the {product} came {dmgadj}.",
        ),
    },
    R.DEFECTIVE: {
        "*": (
            "It {dead} after {days}.",
            "It {onoff}.",
            "{part} {dead} after {days}.",
            "Worked for {days}, then it {dead}.",
            "Right out of the box it {onoff}.",
            "Mine {dead} after only {days}.",
            "After {days} it just {dead}.",
            "Used it twice and it {dead}.",
            "The replacement {dead} too, after {days}.",
            "Brand new and it {onoff}.",
        ),
        "*apparel": (
            "Defective.",
            "Broke the first time I wore it.",
            "{part} broke after {days}.",
            "Mine was defective right out of the box.",
            "{part} is broken and doesn't work.",
            "{part} stopped working after {days}.",
            "Broken on arrival, {part} doesn't work.",
        ),
        "apparel": (
            "The zipper gets stuck halfway and won't budge.",
            "The zipper separates as soon as I zip it.",
            "Snaps don't snap, they pop open on their own.",
            "Heating pad in the jacket never warmed up.",
            "The drawstring is sewn in and won't pull.",
        ),
        "electronics": (
            "It {onoff}, I tried everything.",
            "The battery {dead} after {days}.",
            "Screen flickers and then {dead}.",
            "It {dead} after {days}, won't even light up now.",
            "Stopped charging after {days}.",
            "Sound cuts in and out, then it {dead}.",
            "Keeps losing connection and now it won't connect at all.",
            "Randomly restarts all the time.",
            "The left side stopped working after {days}.",
            "It just stopped responding to commands after {days}.",
        ),
        "home_goods": (
            "It {onoff}.",
            "Motor {dead} after {days}.",
        ),
    },
    R.WRONG_ITEM: {
        "*": (
            "Wrong {wattr} sent.",
            "You sent the wrong {wattr}.",
            "The {wattr} I received is not the one I ordered.",
            "Ordered {qty} but the box only had {qty2}.",
            "Got a {color2} one instead of the {color} I ordered.",
            "I ordered one thing and got something else entirely.",
            "This is a {size2}, not the {size} that's on my order.",
            "Not the {wattr} I ordered.",
        ),
    },
    R.NOT_AS_DESCRIBED: {
        "*": (
            "Looks nothing like the {pic}.",
            "The {attr} is not what the {pic} shows.",
            "Not the same {attr} as in the {pic}.",
            "Photos {misled}.",
            "Product photos {misled}.",
            "The {attr} in person is {intens} different from the {pic}.",
            "It didn't look like it does in the {pic}.",
            "The {pic} shows {feature}, this doesn't have it.",
            "Not what I thought it would be.",
            "Not what I expected from the description.",
            "The {pic} made it look so much nicer.",
            "Nothing like the {pic}, I feel misled.",
            "What arrived is not the {product} in the {pic}.",
            "The listing says it has {feature}, mine has none.",
        ),
        "apparel": (
            "Looked so much better on the model.",
            "The embroidery is printed on, not stitched like it looks online.",
            "The color is {intens} different in person, not the {color} in the photo.",
            "It's a different fabric than described, not cotton at all.",
            "Way more sheer than pictured.",
            "The neckline is not what's pictured at all.",
            "On the model it looks flowy, in reality it's stiff and nothing like that.",
            "The color online looked {color}, in person it's more {color2}.",
        ),
        "electronics": (
            "It has to be plugged in all the time, nowhere does it say that.",
            "I thought it had a battery, it doesn't.",
            "Not what I thought it was going to be, way fewer features than advertised.",
            "The description says it does things it just can't do.",
        ),
    },
    R.SIZE_FIT: {
        "apparel": (
            "Runs {amt} {runsz}.",
            "{intens} {tight} in the {body}.",
            "Too {tight} in the {body} and too {loose} in the {body2}.",
            "It was {intens} {loose} in the {body}.",
            "{lenpart} {intens} {len} for me.",
            "It's {len} on my {frame} frame.",
            "On my {frame} frame it hit at a really awkward spot.",
            "I'm {shape} and this was {intens} {tight} across the {body}.",
            "I'm {shape} and it made me look shapeless.",
            "Ordered my usual {size} and couldn't {cantdo}.",
            "Couldn't even {cantdo}, would need to size up.",
            "The {size} fits more like a {size2}.",
            "I sized down and it was still {intens} {loose}.",
            "Sized up to a {size} and it's still {tight} in the {body}.",
            "Unflattering cut, {intens} {loose} and shapeless on me.",
            "Shapeless and tent-like on my body.",
            "The cut is {intens} boxy, it just hangs on me.",
            "Wildly unflattering on my {shape} figure.",
            "The proportions are off, it fits in the {body} but is {loose} in the {body2}.",
            "Too much fabric, it was like wearing a tent.",
            "The fit is {qbad}.",
            "Not true to size at all.",
            "Definitely order {amt} {updown}.",
            "It's cut for someone {cutfor}.",
            "Fits {intens} {tight}, I'm normally a {size}.",
            "Hangs off me, I'm {frame} and usually a {size}.",
            "The {size} was {intens} {loose} on my {frame} frame.",
            "Size chart is way off, it's {intens} {tight}.",
            "Love it but it's {intens} {tight} in the {body}, going to exchange.",
            "Didn't fit, {intens} {loose} through the {body}.",
        ),
        "*": (
            "Too {tight} for me.",
            "Much {loose}ger than I expected.",
            "The dimensions are off for what I need, {intens} {loose}.",
            "Not the right size for me.",
            "Size is wrong for my needs, it's {intens} {tight}.",
        ),
        "electronics": (
            "It's {intens} {loose} and bulky, hard to carry around.",
            "Too big to hold comfortably.",
            "Hurts my ears after a few minutes, they don't fit.",
        ),
    },
    R.INCOMPATIBLE: {
        "*": (
            "It {compat} {platform}.",
            "Bought it to use with {platform} and it {compat} it.",
            "Sadly it {compat} {platform}.",
            "Unfortunately this {product} {compat} {platform}.",
            "Check before you buy, it {compat} {platform}.",
            "{platform} doesn't recognize it.",
            "Wrong version for {platform}.",
            "Doesn't work with what I have.",
        ),
        "electronics": (
            "It only works with certain phones and mine isn't one of them.",
            "Requires an app subscription that doesn't work on {platform}.",
            "My phone says this accessory is not supported.",
            "Won't connect to {platform}, it only works with the newer models.",
            "Doesn't play music from my service, only their own.",
            "Not compatible with my phone, the plug is the wrong type.",
            "It won't play from my streaming service, that service isn't supported.",
            "My music subscription isn't supported on it, so it's useless to me.",
            "Won't link to my account type, only works with their own accounts.",
            "The app says my region isn't supported.",
            "Can't control my lights with it, my smart bulbs aren't supported.",
        ),
    },
    R.QUALITY: {
        "*": (
            "{part} feels {flimsy}.",
            "{intens} {flimsy} for the price.",
            "Made with {flimsy} materials.",
            "Not durable at all.",
            "Quality is {qbad}.",
            "The quality just isn't there.",
            "Cheaply made, {part} is {flimsy}.",
            "Works okay but quality is {qbad}.",
        ),
        "apparel": (
            "The {material} is {intens} {cheap}.",
            "{material} feels {cheap} and {cheap2}.",
            "After {nwash} it {washfail}.",
            "It {washfail} after {nwash}.",
            "{part} {partfail} after {nwash}.",
            "Poorly constructed, {part} {partfail} the first time I wore it.",
            "Cheaply constructed, I doubt it will hold its shape.",
            "The {material} snags on everything.",
            "Found a snag and a hole along the seam after {nwash}.",
            "It's totally {cheap}, you'd need a slip under it.",
            "Quality is not there for the price.",
            "The {material} looks and feels {cheap}, not worth the price.",
            "Seams are crooked and the pattern doesn't line up.",
            "Stretches out after an hour of wearing it.",
            "The {material} is so {cheap} it feels like a costume.",
            "Beautiful color but the {material} is {cheap}.",
            "The {material} wrinkles if you just look at it.",
        ),
        "electronics": (
            "The {aspect} is {qbad}.",
            "{aspect} is {intens} {qbad} for the price.",
            "It works but the {aspect} is {qbad}.",
            "Compared to my old one the {aspect} is {qbad}.",
            "Not very smart, it doesn't understand me most of the time.",
            "Slow to respond to everything.",
            "Dropped calls and lots of static.",
            "Loses connection if I walk a few feet away.",
            "The {aspect} is {qbad} and {part} feels {flimsy}.",
            "You can barely hear it unless you're right next to it.",
            "Not loud enough.",
            "Echo on every call.",
        ),
    },
    R.MISSING_PARTS: {
        "*": (
            "{acc} {missverb}.",
            "The box didn't include {acc}.",
            "Came without {acc}, which the listing says is included.",
            "Everything but {acc}.",
            "It's incomplete, {acc} {missverb}.",
        ),
    },
    R.NO_LONGER_NEEDED: {
        "*": ("{nln}", "{nln}", "{nln}"),
        "apparel": (
            "The {color} just isn't my color.",
            "It's pretty but not my style.",
            "Looked frumpy on me, just not a style I'd wear.",
            "Loved it online but I don't like the look on me.",
        ),
    },
    R.LATE_DELIVERY: {
        "*": (
            "Showed up {days} late.",
            "Came {days} after the expected date.",
            "It arrived too late for {event}.",
            "The delivery was {intens} late.",
            "Didn't get here until after {event}.",
            "Missed {event} because it was late.",
        ),
    },
    R.EXPIRED: {
        "*": (
            "It expires next month.",
            "The expiration date is only {months} months away.",
            "Already past the expiration date on arrival.",
            "Use by date {date} has passed.",
            "Expired {months} months ago.",
            "Stamped expiration date {date}, already expired.",
        ),
    },
}


def _merge_tables(
    base: dict[ReasonCode, dict[str, tuple[str, ...]]],
    extra: dict[ReasonCode, dict[str, tuple[str, ...]]],
) -> dict[ReasonCode, dict[str, tuple[str, ...]]]:
    """Concatenate the phrase lists of two reason x category tables."""
    merged: dict[ReasonCode, dict[str, tuple[str, ...]]] = {}
    for reason, by_cat in base.items():
        out = dict(by_cat)
        for cat, phrases in extra.get(reason, {}).items():
            out[cat] = out.get(cat, ()) + phrases
        merged[reason] = out
    return merged


_CONSUMER_PROBLEM = _merge_tables(_CONSUMER_PROBLEM, _CONSUMER_PROBLEM_EXTRA)

# Neutral context sentences real reviewers add (not about the problem).
_CONSUMER_FILLER: dict[str, tuple[str, ...]] = {
    "industrial_parts": (
        "We use these on the shop floor.",
        "It's a replacement for one that wore out.",
        "I maintain a small fleet of machines.",
        "Needed it for a repair at home.",
    ),
    "electronics": (
        "I bought it for the kitchen.",
        "I have several of these around the house.",
        "I use it mostly for music.",
        "Got it on Prime Day.",
        "I use it every day for work calls.",
        "My kids use it for homework.",
        "Bought it to use in the car.",
    ),
    "medical_supplies": (
        "I use these for my mother's care at home.",
        "We go through a lot of these.",
        "I'm a nurse and use these daily.",
        "Needed these after my surgery.",
    ),
    "food_service": (
        "We run a small cafe.",
        "We use these for catering.",
        "I cook a lot at home.",
        "Our food truck goes through a case a week.",
    ),
    "apparel": (
        "I was looking for something to wear to work.",
        "I usually love this brand.",
        "I wanted something for summer.",
        "I ordered it for a wedding.",
        "I have it in another color.",
        "I'm usually a {size} in tops.",
        "I was hoping to wear it with jeans.",
        "I read the reviews before ordering.",
        "I waited for it to go on sale.",
    ),
    "home_goods": (
        "Bought it for our guest room.",
        "We just moved into a new place.",
        "I was replacing an old one.",
        "I wanted to update the living room.",
    ),
}


# Sentences at true class boundaries: they use another class's words, but a careful reader still
# finds the primary reason (e.g. "thought they sent the wrong size, but the tag is right").
_BOUNDARY: dict[ReasonCode, tuple[str, ...]] = {
    R.DAMAGED_IN_TRANSIT: (
        "Not sure if it's a factory defect or shipping, but the box was crushed and it's cracked.",
        "It might have worked, I'll never know, it showed up {dmgadj} with the box caved in.",
        "This isn't a quality complaint, the carrier just wrecked it, {part} is {dmgadj}.",
        "Right item, right size, but it arrived {dmgadj} from the shipping.",
    ),
    R.DEFECTIVE: (
        "Not sure if it's defective or just cheap, but it {dead} after {days}.",
        "At first I thought it was incompatible, but it won't work with anything, it {onoff}.",
        "It's not a quality thing, it simply {onoff}.",
        "Arrived in perfect shape, no damage to the box, and it {onoff}.",
        "The fit is fine, the problem is {part} is broken and doesn't work.",
        "Looks exactly like the picture, it just doesn't work.",
    ),
    R.WRONG_ITEM: (
        "At first I thought it just ran small, then I saw the tag says {size2}, I ordered {size}.",
        "It doesn't fit because it's not the size I ordered, the label says {size2}.",
        "Not a quality issue, they simply sent a different item than I ordered.",
        "It looks different from the listing because it's literally a different model, not mine.",
        "Thought it was missing parts, but it's a completely different kit than the one I ordered.",
    ),
    R.NOT_AS_DESCRIBED: (
        "It's well made and works, it's just not the {attr} in the pictures.",
        "Quality is fine, but it's not what the listing describes.",
        "It fits, but the {attr} is nothing like the photos.",
        "Not damaged or defective, it just isn't what was advertised.",
        "Much smaller than the dimensions in the description, not what was listed.",
    ),
    R.SIZE_FIT: (
        "I thought they sent the wrong size but the tag says {size}, it just runs {runsz}.",
        "Quality is great, it's just {intens} {tight} in the {body}.",
        "Nothing wrong with the {material}, the fit is just off for my body.",
        "They sent what I ordered, it just doesn't fit me.",
        "It's the size I ordered but it's cut {intens} {tight}.",
    ),
    R.INCOMPATIBLE: (
        "Thought it was defective, but it works on my friend's setup, just not {platform}.",
        "Works fine, it's just not compatible with {platform}.",
        "It's not broken, it just {compat} {platform}.",
        "The listing was clear, my mistake for not checking, it {compat} {platform}.",
    ),
    R.QUALITY: (
        "It still works, technically, but it's {intens} {flimsy} and poorly made.",
        "Not defective exactly, just really cheaply made.",
        "It fits fine and looks like the picture, but the quality is {qbad}.",
        "Not broken, but {part} feels like it will snap any day, very {flimsy}.",
        "It's true to size, but the {material} is {cheap}.",
        "Does what it says, just does it badly, the {aspect} is {qbad}.",
    ),
    R.MISSING_PARTS: (
        "The item itself is fine and not damaged, but {acc} {missverb}.",
        "It's the right item, just incomplete, {acc} {missverb}.",
        "Not sure if it's a listing error but {acc} {missverb} from my box.",
    ),
    R.NO_LONGER_NEEDED: (
        "Nothing wrong with it, fits fine and works, I just don't need it anymore.",
        "It's exactly as described, I just changed my mind.",
        "I ordered the wrong one by mistake, my fault, not the seller's.",
        "Quality is fine, I just don't like the style on me.",
    ),
    R.LATE_DELIVERY: (
        "The item is fine, not damaged, but it arrived too late to be any use.",
        "Nothing wrong with the {product}, the problem is it came {days} late.",
    ),
    R.EXPIRED: (
        "Not damaged, right product, but it's expired.",
        "The item is correct, but the expiration date is {date}, already past.",
    ),
    R.OTHER: (
        "Nothing wrong with the item, it's a billing problem.",
        "Not defective or anything, I was charged twice.",
    ),
}


# Follow-up sentences that elaborate the same reason (consumer voice).
_CONSUMER_DETAIL: dict[ReasonCode, tuple[str, ...]] = {
    R.DAMAGED_IN_TRANSIT: (
        "I have pictures of the box.",
        "The outer box had a huge dent right where the damage is.",
        "They need better packaging, there was barely any padding.",
        "There were pieces rattling around in the box.",
        "The delivery guy literally tossed it on the porch.",
        "You could see the box had been crushed before I even opened it.",
        "Took photos of the packaging before I opened it.",
        "Would have been fine if it had been packed properly.",
    ),
    R.DEFECTIVE: (
        "Tried a different outlet and a different cable.",
        "Reset it like the instructions say, nothing.",
        "Charged it overnight, still nothing.",
        "Followed all the troubleshooting steps.",
        "Customer support walked me through everything and it still doesn't work.",
        "Tried new batteries.",
        "I've used the same model before with no problems so it's this unit.",
        "It's not user error, I know how to use these.",
        "The light blinks red and that's it.",
        "It was working fine and then one day it just quit.",
        "Tried it in two different places, same thing.",
    ),
    R.WRONG_ITEM: (
        "I double checked my order confirmation.",
        "The packing slip has the right item listed but that's not what's in the box.",
        "I have a photo of the label next to my order.",
        "It's not even the same style number.",
        "I clicked the right one, I checked my order history.",
        "Pretty sure the warehouse grabbed the wrong box.",
    ),
    R.NOT_AS_DESCRIBED: (
        "I compared it side by side with the photos.",
        "I read the description carefully before ordering.",
        "The box itself even says something different from the listing.",
        "Feels like a bait and switch.",
        "The listing should be updated.",
        "Other reviews say the same thing.",
        "In person it just isn't the same item as the pictures.",
    ),
    R.SIZE_FIT: (
        "I'm 5'4 and 130 lbs for reference.",
        "I usually wear a {size} in everything.",
        "I followed the size chart exactly.",
        "I'm a 34D for reference.",
        "I'm 5'9 with long legs.",
        "I measured before ordering and it's still off.",
        "I normally wear a {size} and have never had this problem.",
        "For reference I'm petite, 5'1.",
        "Maybe it works on someone taller.",
        "Would have to size down at least one.",
        "Measured the space before ordering, should have measured again.",
        "Size chart must be off.",
    ),
    R.INCOMPATIBLE: (
        "Checked the compatibility list afterwards, mine isn't on it.",
        "Tried updating the software, no luck.",
        "The product itself seems fine, it just won't work with my setup.",
        "Support confirmed it isn't supported.",
        "Should have checked the model number before buying.",
        "It would probably work fine for someone with a different setup.",
    ),
    R.QUALITY: (
        "For the price I expected more.",
        "My old one lasted years.",
        "It doesn't feel like it will last.",
        "You get what you pay for I guess.",
        "It does technically work but it's just not good.",
        "Compared to the last one I bought, the quality went way down.",
        "I've had cheaper ones that were better made.",
        "It just feels cheap in your hands.",
    ),
    R.MISSING_PARTS: (
        "Checked all the packaging twice.",
        "Looked through every bag and under the foam.",
        "The parts list in the manual shows it should be there.",
        "Can't use it without it.",
        "The bag that should have it was empty.",
    ),
    R.NO_LONGER_NEEDED: (
        "It's unopened.",
        "Still in the original packaging, never used.",
        "Tags are still on.",
        "Never even took it out of the box.",
        "Nothing wrong with the item.",
        "My fault, not the seller's.",
    ),
    R.LATE_DELIVERY: (
        "Tracking showed it sitting in a warehouse for a week.",
        "I paid for expedited shipping.",
        "The estimated date kept getting pushed back.",
        "Nobody told me it was delayed.",
        "Ordered it well in advance too.",
    ),
    R.EXPIRED: (
        "Checked the date on every box, all the same.",
        "Can't use expired product.",
        "Not going to use something that's past its date.",
        "The date is printed right on the side.",
        "Sold old stock.",
    ),
    R.OTHER: (
        "Please contact me about it.",
        "Customer service said to put other.",
        "Not sure which reason to select.",
        "Please process it however you need to.",
    ),
}

# Praise that real reviewers put before the complaint. Tags mark what a praise sentence vouches
# for, so it is never combined with a primary reason it would contradict:
# q = material/quality, f = size/fit, w = works, l = looks like the listing, d = delivery.
_PRAISE_ANY: tuple[tuple[str, str], ...] = (
    ("Really wanted to love this", ""),
    ("I was so excited for this", ""),
    ("Great price", ""),
    ("Shipping was fast", "d"),
    ("It arrived quickly", "d"),
    ("Nice concept", ""),
    ("Looks great", "l"),
    ("The design is nice", "l"),
    ("Seems well made", "q"),
    ("I had high hopes", ""),
    ("Good value for the money", "q"),
    ("Customer service was nice", ""),
    ("It works fine", "w"),
    ("I liked it at first", ""),
)
_PRAISE_CAT: dict[str, tuple[tuple[str, str], ...]] = {
    "industrial_parts": (
        ("Same part we always buy", ""),
        ("Price was better than our local supplier", ""),
        ("Solid construction", "q"),
    ),
    "electronics": (
        ("Setup was easy", "w"),
        ("The sound is good", "wq"),
        ("Love my other one", ""),
        ("Love the look", "l"),
        ("Easy to use", "w"),
        ("Battery lasts forever", "wq"),
        ("Pairing was quick", "w"),
    ),
    "medical_supplies": (
        ("We've used this brand for years", ""),
        ("Good price per box", ""),
    ),
    "food_service": (
        ("Good price per case", ""),
        ("Our staff likes this brand", ""),
    ),
    "apparel": (
        ("Love the color", "l"),
        ("The color is gorgeous", "l"),
        ("The fabric is soft", "q"),
        ("Beautiful dress", "l"),
        ("Cute design", "l"),
        ("The material is nice and heavy", "q"),
        ("Super cute on the model", ""),
        ("Fits perfectly", "f"),
        ("True to size", "f"),
        ("Gorgeous print", "l"),
        ("It's so comfy", "qf"),
        ("Love this brand", ""),
    ),
    "home_goods": (
        ("Love the color", "l"),
        ("Looks nice in the room", "l"),
        ("Easy to assemble", "w"),
        ("Feels sturdy", "q"),
    ),
}
_PRAISE_BLOCK: dict[ReasonCode, str] = {
    R.QUALITY: "q",
    R.SIZE_FIT: "f",
    R.DEFECTIVE: "w",
    R.NOT_AS_DESCRIBED: "l",
    R.LATE_DELIVERY: "d",
    R.DAMAGED_IN_TRANSIT: "d",
    R.INCOMPATIBLE: "",
}

# Clauses that deny another reason, so other classes' words appear in a negated way.
_CONSUMER_NEGATED: dict[ReasonCode, tuple[str, ...]] = {
    R.DAMAGED_IN_TRANSIT: (
        "It's the right item",
        "Not a factory defect",
        "I'm sure it worked before shipping",
        "Nothing wrong with the {product} itself before shipping",
    ),
    R.DEFECTIVE: (
        "The box was fine, not damaged",
        "Packaging was perfect",
        "It's the right model",
        "Nothing missing from the box",
        "It's not a compatibility thing",
        "Arrived in perfect condition",
        "Not damaged at all",
        "Not a fit issue",
        "It's not that it's cheap",
    ),
    R.WRONG_ITEM: (
        "Nothing wrong with the quality",
        "Box arrived in good shape",
        "I know my size",
        "It's not that it doesn't fit",
        "The item itself is fine",
    ),
    R.NOT_AS_DESCRIBED: (
        "It works fine",
        "Arrived in perfect condition",
        "It's the item I ordered",
        "Not damaged",
        "Not broken",
        "It fits okay",
    ),
    R.SIZE_FIT: (
        "The quality is great",
        "Love the fabric",
        "Nothing wrong with it otherwise",
        "They sent the right size",
        "It's the size I ordered",
        "The material is really nice",
        "Not defective at all",
        "It's well made",
    ),
    R.INCOMPATIBLE: (
        "The {product} itself works fine",
        "Nothing is wrong with it",
        "Not defective",
        "It's not broken",
        "It arrived fine",
    ),
    R.QUALITY: (
        "It fits fine",
        "It's true to size",
        "It works",
        "Arrived in one piece",
        "It's exactly what the listing shows",
        "Not broken exactly",
        "It's not defective",
        "It does turn on",
        "Size is fine",
    ),
    R.MISSING_PARTS: (
        "The item itself looks fine",
        "Not damaged",
        "What's there seems good quality",
    ),
    R.NO_LONGER_NEEDED: (
        "Nothing wrong with it",
        "It works fine",
        "Fits fine",
        "Not defective",
        "It's not damaged",
        "Quality is fine",
    ),
    R.LATE_DELIVERY: (
        "Nothing wrong with the item itself",
        "Product is fine",
        "It's the right item",
    ),
    R.EXPIRED: ("Box arrived fine", "Right product", "Packaging is intact"),
    R.OTHER: ("Nothing wrong with the product", "The item is fine", "It works"),
}

_CONSUMER_OPENING: tuple[str, ...] = (
    "Ordered this for my daughter.",
    "Bought this as a gift.",
    "So disappointed.",
    "Ugh.",
    "Order #{order}.",
    "Hi,",
    "Hello,",
    "I bought this last month.",
    "I ordered this on sale.",
    "Bought this for my husband.",
    "I've bought from you many times.",
    "This was my second one.",
    "Ordered two of these.",
    "I read all the reviews before buying this.",
    "Not happy.",
    "First time ordering from this seller.",
    "Got this for my mom.",
    "I bought it for work.",
    "Very disappointed.",
    "Well.",
    "I'm returning this.",
    "Returning.",
    "Order {order}.",
    "This is my first review.",
    "I don't usually write reviews but here goes.",
)
_CONSUMER_OWNERSHIP: tuple[str, ...] = (
    "Had it for {days}.",
    "I've had it for {days}.",
    "Used it for {days}.",
    "Bought it {days} ago.",
    "After {days} of use.",
)
_CONSUMER_CONSEQUENCE: tuple[str, ...] = (
    "So disappointed.",
    "Very frustrating.",
    "What a waste of money.",
    "Waste of time.",
    "Really upset about this.",
    "Don't buy this.",
    "Will not order again.",
    "Sad because I really wanted to love it.",
    "Buyer beware.",
    "Very disappointed.",
    "Not happy at all.",
    "I expected better.",
    "Such a letdown.",
    "Total disappointment.",
    "Ridiculous.",
    "Not impressed.",
    "Bummer.",
    "Thanks for nothing.",
)
_CONSUMER_REQUEST: tuple[str, ...] = (
    "Returning it.",
    "Sending it back.",
    "I want a refund.",
    "Please refund.",
    "Would like a replacement.",
    "It's going back.",
    "Will be returning.",
    "I'd like my money back.",
    "Please send a replacement.",
    "Refund please.",
    "I want to return it.",
    "Please issue a refund to my card.",
    "Can I get a refund or exchange?",
    "Please email me a return label.",
    "Returned.",
    "I need a return label.",
)
_CONSUMER_REQUEST_BY_REASON: dict[ReasonCode, tuple[str, ...]] = {
    R.SIZE_FIT: ("Would like to exchange for a {size2}.", "Exchanging for a different size."),
    R.WRONG_ITEM: ("Please send the correct one.", "Please send what I actually ordered."),
    R.MISSING_PARTS: ("Please send the missing parts or refund.", "Can you ship {acc}?"),
    R.DEFECTIVE: ("Please send a working one.", "Need a replacement that works."),
    R.DAMAGED_IN_TRANSIT: ("Please send a new one, packed better this time.",),
}
_CONSUMER_SIGNOFF: tuple[str, ...] = (
    "Thanks.",
    "Thank you.",
    "Thanks, {name}",
    "- {name}",
    "Thx",
    "Thanks in advance.",
)

# Leads for the subordinate second reason.
_SECONDARY_LEAD: tuple[str, ...] = (
    "Also, ",
    "On top of that, ",
    "Plus ",
    "And ",
    "Minor thing but ",
    "Not the main issue, but ",
    "Also ",
    "Oh and ",
    "To make it worse, ",
    "Besides that, ",
    "Side note: ",
    "Also noticed ",
)

# What the customer may have picked in a returns portal.
_CODE_LABEL: dict[ReasonCode, tuple[str, ...]] = {
    R.DAMAGED_IN_TRANSIT: ("damaged", "arrived damaged", "damaged in shipping"),
    R.DEFECTIVE: ("defective", "doesn't work", "defective/not working"),
    R.WRONG_ITEM: ("wrong item", "wrong item sent", "incorrect item"),
    R.NOT_AS_DESCRIBED: ("not as described", "not as pictured", "doesn't match description"),
    R.SIZE_FIT: ("doesn't fit", "wrong size", "too small/too large", "size/fit"),
    R.INCOMPATIBLE: ("not compatible", "incompatible", "doesn't work with my device"),
    R.QUALITY: ("poor quality", "quality not as expected", "quality"),
    R.MISSING_PARTS: ("missing parts", "parts missing", "incomplete"),
    R.NO_LONGER_NEEDED: ("no longer needed", "changed my mind", "don't want it"),
    R.LATE_DELIVERY: ("arrived late", "late delivery", "too late"),
    R.EXPIRED: ("expired", "expired product", "short dated"),
    R.OTHER: ("other", "other reason", "something else"),
}
_CODE_REF_CONSUMER: tuple[str, ...] = (
    "I picked '{label}' on the form but really the problem is this: ",
    "Selected {label} because there was no better option. ",
    "The form made me choose a reason, I put {label}, but ",
    "I clicked {label} by accident. Actual issue: ",
    "Not sure {label} is the right reason. ",
    "Picked {label} but that's not quite it. ",
)
_CODE_REF_B2B: tuple[str, ...] = (
    "Customer coded this as {label} but ",
    "Entered as {label} in the portal, however ",
    "Reason code {label} was selected in error. ",
    "Ignore the {label} reason code. ",
)


# ---------------------------------------------------------------------------------------------
# B2B voice: dealers, contractors, hospital and restaurant buyers writing to a distributor.
# ---------------------------------------------------------------------------------------------

_B2B_PROBLEM: dict[ReasonCode, dict[str, tuple[str, ...]]] = {
    R.DAMAGED_IN_TRANSIT: {
        "*": (
            "Material was received damaged; carton crushed on delivery.",
            "Freight damage noted on the BOL at receiving.",
            "{qty} of {qty2} units arrived damaged in transit.",
            "Shipment arrived with the pallet broken down and product damaged.",
            "Receiving found the {product} dented, outer carton punctured.",
            "Carrier damage. Driver signed the POD as damaged.",
            "Units arrived broken, packaging inadequate for freight.",
            "Our receiver refused part of the delivery, cartons crushed.",
            "Item damaged in shipment, photos taken at the dock.",
        ),
        "industrial_parts": (
            "Flange face damaged in transit, cannot be installed.",
            "Gauge lens cracked on arrival, crate damaged.",
            "Threads damaged in shipping, visible impact marks on the box.",
        ),
        "electronics": (
            "Two scanners arrived with cracked housings, cartons crushed.",
            "Monitor screens cracked in transit.",
        ),
        "medical_supplies": (
            "Sterile barrier compromised in transit, cartons wet and crushed.",
            "Cases arrived damaged, several pouches punctured.",
        ),
        "food_service": (
            "Cases crushed and cans dented on delivery.",
            "Product leaking on arrival, pallet wrapped wet.",
            "Frozen product arrived thawed, carton torn.",
        ),
        "apparel": (
            "Garments arrived soiled, shipping bags torn open.",
            "Cartons torn and several pieces dirty on receipt.",
        ),
        "home_goods": (
            "Glass components shattered in transit.",
            "Furniture carton crushed, frame bent on arrival.",
        ),
    },
    R.DEFECTIVE: {
        "*": (
            "Unit is defective; failed on initial power up.",
            "Field failure after {days} in service.",
            "DOA, unit does not power on.",
            "Item failed during install and does not operate.",
            "Our tech confirmed the {product} is faulty.",
            "Unit malfunctions intermittently, cannot be put in service.",
            "Product failed after {days}, within warranty.",
            "The {product} stopped working after {days} on site.",
            "Failed bench test at our shop.",
            "Warranty claim: the unit quit after {days}.",
            "Item is inoperable out of the box.",
        ),
        "industrial_parts": (
            "Bearing seized after {days} of runtime.",
            "Valve leaks by in the closed position.",
            "Gauge reads high, out of calibration out of the box.",
            "Motor draws high amps and trips the overload.",
            "Solenoid coil open, no continuity.",
            "Sensor gives no output, checked wiring twice.",
            "Seal failure under normal operating pressure.",
            "Pump will not prime.",
        ),
        "electronics": (
            "Scanners will not power on.",
            "Units will not hold a charge.",
            "Device reboots in a loop and cannot be configured.",
            "Printer feeds but prints blank labels.",
            "Units drop wifi connection constantly.",
            "Screen failure after {days}.",
        ),
        "medical_supplies": (
            "Device displays an error code and will not take readings.",
            "Cuffs do not hold pressure.",
            "Readings inconsistent compared to calibrated unit; removed from service.",
            "Nebulizer compressor failed after {days}.",
            "Oximeters will not power on.",
        ),
        "food_service": (
            "Dispenser pump does not work.",
            "Thermometers reading inaccurate, off by several degrees.",
            "Blender motor failed after {days}.",
            "Unit does not heat.",
        ),
        "apparel": (
            "Zippers defective on {qty} jackets, will not close.",
            "Snaps failing on the vests, will not stay closed.",
            "Soles separating after {days} of wear.",
        ),
        "home_goods": (
            "Units do not power on.",
            "Lamps flicker and fail.",
            "Vacuum motor failed after {days}.",
        ),
    },
    R.WRONG_ITEM: {
        "*": (
            "Incorrect item shipped. We ordered {pn} and received {pn2}.",
            "Wrong part shipped against our PO.",
            "Received {pn2}, PO calls for {pn}.",
            "Part number mismatch between the packing slip and the product.",
            "Short shipped: ordered {qty}, received {qty2}.",
            "Over shipped: we received {qty2} against {qty} ordered.",
            "Received wrong size, ordered {size} and got {size2}.",
            "Item shipped does not match our order.",
            "Shipment contained another customer's material.",
            "Wrong color shipped, order was for {color}.",
            "Box labeled correctly but contents are a different item.",
            "Received the wrong model of {product}.",
        ),
        "industrial_parts": (
            "Ordered {size} thread, received {size2}.",
            "Received {size2} coil, PO specifies {size}.",
            "Wrong bearing number shipped.",
            "Part number on the tag does not match our PO.",
        ),
        "electronics": (
            "Received {size2} model, we ordered {size}.",
            "Wrong SKU shipped, these are the older generation units.",
        ),
        "medical_supplies": (
            "Ordered {size}, received {size2}.",
            "Received latex gloves, PO is for nitrile.",
            "Wrong catalog number shipped.",
        ),
        "food_service": (
            "Ordered {size} containers, received {size2}.",
            "Wrong product substituted without approval.",
        ),
        "apparel": (
            "Received size {size2} instead of the {size} on the PO.",
            "Received {color2} uniforms, ordered {color}.",
        ),
        "home_goods": (
            "Received the {size2} instead of {size}.",
            "Wrong finish shipped.",
        ),
    },
    R.NOT_AS_DESCRIBED: {
        "*": (
            "Product does not match the catalog description.",
            "Item received does not meet the published specs.",
            "Specs on the product differ from the data sheet.",
            "Not the brand quoted; product appears to be a substitute.",
            "Product appears to be counterfeit.",
            "Material differs from what was quoted.",
            "Item does not match the website photos.",
            "Features listed in the description are not present.",
            "Quoted as new, product is refurbished.",
        ),
        "industrial_parts": (
            "Quoted as 316 stainless, received carbon steel.",
            "Pressure rating on the tag does not match the spec sheet.",
            "Not OEM as quoted, aftermarket markings.",
            "Dimensions differ from the published drawing.",
        ),
        "electronics": (
            "Units are not genuine, serials do not register with the manufacturer.",
            "Spec sheet lists wireless charging, units do not support it.",
            "Resolution lower than advertised.",
        ),
        "medical_supplies": (
            "Quoted latex-free, packaging indicates latex.",
            "Labeled non-sterile, quoted as sterile.",
            "Count per box differs from the catalog.",
        ),
        "food_service": (
            "Quoted as compostable, product is plastic lined.",
            "Gauge is lighter than the spec sheet.",
        ),
        "apparel": (
            "Fabric content differs from the spec; tagged polyester, quoted cotton.",
            "Color does not match the approved sample.",
            "Garments not ANSI class 2 as described.",
        ),
        "home_goods": (
            "Finish does not match the catalog image.",
            "Dimensions differ from the listing.",
        ),
    },
    R.SIZE_FIT: {
        "*": (
            "Size does not work for the end user.",
            "Too small for the application.",
            "Too large for the space.",
            "Dimensions too big for the install location.",
            "Fit is not right for our staff.",
        ),
        "industrial_parts": (
            "Too long for the install space, need the shorter length.",
            "Gloves run small, crew can't wear them.",
            "Unit is too large for the cabinet.",
        ),
        "electronics": (
            "Monitors too large for the workstations.",
            "Headsets too tight for staff to wear a full shift.",
        ),
        "medical_supplies": (
            "Gloves run small, staff needs a size up.",
            "Cuffs too small for our patient population.",
            "Masks too large, poor seal on the face.",
        ),
        "food_service": (
            "Pans too large for our ovens.",
            "Containers too small for our portions.",
            "Aprons too short for our staff.",
        ),
        "apparel": (
            "Garments run small; employees need one size up.",
            "Sizing runs large across the order.",
            "Uniform pants too short in the inseam.",
            "Boots run narrow, crew cannot wear them.",
            "Jackets too tight across the shoulders for our crew.",
        ),
        "home_goods": (
            "Too large for the rooms.",
            "Curtains too short for the windows.",
        ),
    },
    R.INCOMPATIBLE: {
        "*": (
            "Not compatible with {platform}.",
            "Does not work with {platform}.",
            "Does not fit {platform}.",
            "Incompatible with the customer's existing equipment.",
            "Will not interface with {platform}.",
            "Customer's system does not support this model.",
        ),
        "industrial_parts": (
            "Does not fit our machine.",
            "Bolt pattern does not match {platform}.",
            "NPT threads; customer system is BSP.",
            "Shaft diameter incompatible with {platform}.",
            "Coil voltage does not match the control circuit.",
        ),
        "electronics": (
            "Scanners do not integrate with our POS software.",
            "Not supported by our MDM platform.",
            "Firmware not compatible with {platform}.",
        ),
        "medical_supplies": (
            "Strips not compatible with our meters.",
            "Connectors do not fit our pumps.",
        ),
        "food_service": (
            "Filters do not fit our brewers.",
            "Lids do not fit our cup sizes.",
        ),
        "apparel": ("Vests do not work with our fall protection harnesses.",),
        "home_goods": (
            "Bulbs do not fit the fixtures on site.",
            "Not compatible with the tenant's smart home system.",
        ),
    },
    R.QUALITY: {
        "*": (
            "Quality is not acceptable.",
            "Poor workmanship; not up to our standard.",
            "Product quality is below what we normally receive.",
            "Customer rejected on quality.",
            "Material is flimsy, not suitable for commercial use.",
            "Inconsistent quality across the lot.",
            "Finish is poor; rough edges.",
            "End user unhappy with the quality.",
            "Wearing out prematurely after {days}.",
        ),
        "industrial_parts": (
            "Casting porosity and burrs on the sealing face.",
            "Welds sloppy, would not pass our QC.",
            "Corrosion after {days} in normal service.",
            "Excessive vibration and noise compared to the previous supplier.",
        ),
        "electronics": (
            "Audio quality poor, staff complaints.",
            "Battery runtime well below expectation.",
            "Housings feel cheap, clips breaking.",
        ),
        "medical_supplies": (
            "Gloves tearing on donning.",
            "Adhesive does not hold.",
            "Gauze shedding fibers.",
        ),
        "food_service": (
            "Film too thin, does not cling.",
            "Containers cracking in the freezer.",
            "Knives dull quickly.",
        ),
        "apparel": (
            "Fabric pilling after a few washes.",
            "Stitching failing on the seams.",
            "Material thin; customer rejected.",
            "Colors fading after industrial laundering.",
        ),
        "home_goods": (
            "Towels shedding lint.",
            "Finish chipping.",
        ),
    },
    R.MISSING_PARTS: {
        "*": (
            "Units received incomplete.",
            "Missing components: {acc}.",
            "Kit incomplete, {acc} not included.",
            "{acc} missing from the carton.",
            "Shipment missing accessories listed on the spec sheet.",
            "Received without {acc}; cannot install.",
            "Contents incomplete per the packing list.",
        ),
        "industrial_parts": (
            "Mounting hardware not included.",
            "Gasket missing from the kit.",
            "Seal kit missing two o-rings.",
        ),
        "electronics": (
            "Power supplies not included with the scanners.",
            "Cables missing from {qty} units.",
        ),
        "medical_supplies": (
            "Kits missing tubing.",
            "IFU missing from the cases.",
        ),
        "food_service": (
            "Dispensers received without pumps.",
            "Case missing lids.",
        ),
        "apparel": ("Jackets missing the zip-out liners.",),
        "home_goods": ("Hardware packs missing from the cartons.",),
    },
    R.NO_LONGER_NEEDED: {
        "*": (
            "No longer needed.",
            "Project cancelled.",
            "Ordered in error.",
            "Duplicate order, please credit.",
            "Customer cancelled the job.",
            "Overstock, returning unopened.",
            "Ordered too many.",
            "Over-ordered, returning excess.",
            "Customer changed specification, item not required.",
            "Buyer error, not needed.",
            "Customer no longer wants the item.",
        ),
        "industrial_parts": ("Repaired existing unit, replacement not needed.",),
        "electronics": ("Rollout postponed, units not needed.",),
        "medical_supplies": ("Product line change, returning unopened stock.",),
        "food_service": ("Menu change, product discontinued in our kitchen.",),
        "apparel": ("Uniform program changed, returning unworn stock.",),
        "home_goods": ("Tenant decided on a different style.",),
    },
    R.LATE_DELIVERY: {
        "*": (
            "Arrived after the required date.",
            "Delivered late, we had to source elsewhere.",
            "Missed the ship date, no longer usable for {event}.",
            "Received {days} late.",
            "Late delivery, job already completed with other stock.",
            "Delivery missed {event}.",
            "Backordered without notice; arrived too late.",
            "Required date on the PO was missed.",
        ),
        "industrial_parts": ("Missed our outage window.",),
        "electronics": ("Arrived after the go-live date.",),
        "medical_supplies": ("Arrived after the procedure was done.",),
        "food_service": ("Delivered after the event.",),
        "apparel": ("Uniforms arrived after the start date.",),
        "home_goods": ("Arrived after the move-in date.",),
    },
    R.EXPIRED: {
        "*": (
            "Product received expired.",
            "Short dated; does not meet our minimum shelf life.",
            "Expiration date {date} already passed on receipt.",
            "Received with less than {months} months of shelf life.",
            "Expired lot {lot}.",
            "Product past its use-by date.",
            "Lot {lot} expires {date}, too short for our usage.",
        ),
        "industrial_parts": ("Sealant past shelf life on receipt.", "Adhesive expired."),
        "electronics": ("Batteries past expiration.",),
        "medical_supplies": (
            "Lot {lot} expired {date}.",
            "Short-dated stock, below the 6 month minimum.",
            "Sterile product past expiry.",
        ),
        "food_service": (
            "Product past the use-by date on delivery.",
            "Best-by date {date} already passed.",
            "Short coded product.",
        ),
        "apparel": ("Treatment kit past expiry.",),
        "home_goods": ("Cleaning chemicals expired.",),
    },
    R.OTHER: {
        "*": (
            "Return authorized by the sales rep.",
            "Stock rotation per our agreement.",
            "Billing discrepancy, please review.",
            "Price discrepancy on the invoice.",
            "Consignment return.",
            "Manufacturer recall.",
            "Return per account manager.",
            "Tax exempt certificate not applied.",
            "Duplicate billing.",
            "Customer returned under the trade-in program.",
        ),
        "industrial_parts": ("Annual stock rotation.",),
        "electronics": ("End of lease return.",),
        "medical_supplies": ("Recall notice for this lot.",),
        "food_service": ("Supplier recall.",),
        "apparel": ("Sample return.",),
        "home_goods": ("Display model return.",),
    },
}

_B2B_DETAIL: dict[ReasonCode, tuple[str, ...]] = {
    R.DAMAGED_IN_TRANSIT: (
        "Photos attached.",
        "Noted damage on the delivery receipt.",
        "Carrier was {site} delivery, driver acknowledged.",
        "Please file a freight claim.",
    ),
    R.DEFECTIVE: (
        "Our tech tested it on site.",
        "Serial {serial}.",
        "End user at {site} reported it.",
        "Tested with a known good supply.",
        "Failure report attached.",
    ),
    R.WRONG_ITEM: (
        "Packing slip attached.",
        "Please check your pick.",
        "Label shows {pn2}.",
        "Need the correct part ASAP.",
    ),
    R.NOT_AS_DESCRIBED: (
        "Please review against the quote.",
        "Data sheet attached for reference.",
        "We need product that matches the spec.",
    ),
    R.SIZE_FIT: (
        "Need to exchange for {size2}.",
        "Please advise on exchange.",
        "Measured on site.",
    ),
    R.INCOMPATIBLE: (
        "Customer confirmed their model is {platform}.",
        "Please advise on a compatible part.",
        "Product itself appears fine.",
    ),
    R.QUALITY: (
        "Previous lots were fine.",
        "We'd like to discuss a different supplier.",
        "Samples available for inspection.",
    ),
    R.MISSING_PARTS: (
        "Please ship the missing components.",
        "Checked all cartons.",
        "Cannot complete the install without them.",
    ),
    R.NO_LONGER_NEEDED: (
        "Unopened, in original packaging.",
        "Will accept restocking fee.",
        "Product is new.",
    ),
    R.LATE_DELIVERY: (
        "Required date was on the PO.",
        "Sourced locally in the meantime.",
        "Please waive the restocking fee.",
    ),
    R.EXPIRED: (
        "Quarantined on receipt.",
        "Cannot use per our policy.",
        "Lot {lot}.",
    ),
    R.OTHER: ("Please contact me.", "Per email with {name}."),
}

_B2B_GREETING: tuple[str, ...] = (
    "Hi,",
    "Hello,",
    "Hello team,",
    "Good morning,",
    "Hi {name2},",
    "Team,",
    "To whom it may concern,",
    "Re: PO {po}",
    "Afternoon,",
    "RE: order {order}",
)
_B2B_REF: tuple[str, ...] = (
    "PO {po}, line {n}, {qty} ea {product} ({pn}).",
    "Ref order {order}.",
    "Our PO# {po}.",
    "Item {pn}, qty {qty}.",
    "PO {po} / item {pn}.",
    "Regarding {qty} x {product}, PO {po}.",
    "Ref invoice {order}.",
    "Job: {site}. PO {po}.",
    "Account {order}, PO {po}.",
    "{qty} pcs {pn}.",
)
_B2B_REQUEST: tuple[str, ...] = (
    "Please issue credit.",
    "Please send an RMA.",
    "Need a replacement expedited.",
    "Please arrange pickup.",
    "Credit to our account please.",
    "Advise on return process.",
    "Requesting RMA and credit.",
    "Please issue credit memo.",
    "Please replace.",
    "Need RMA number to ship back.",
    "Please credit the invoice.",
    "Replace or credit, whichever is faster.",
    "Send call tag please.",
)
_B2B_SIGNOFF: tuple[str, ...] = (
    "Thanks,\n{name}",
    "Thank you, {name} - {title}",
    "Regards, {name}, {title}",
    "Thanks - {name}",
    "{name}\n{title}",
    "Best, {name}",
    "Thx {name}",
)

# ---------------------------------------------------------------------------------------------
# EDI / ERP remarks: terse, abbreviated, mostly upper case.
# ---------------------------------------------------------------------------------------------

_EDI_CODE: dict[ReasonCode, tuple[str, ...]] = {
    R.DAMAGED_IN_TRANSIT: (
        "DMG",
        "DAMAGED",
        "FRT DMG",
        "CARRIER DMG",
        "DMG IN TRANSIT",
        "CONC DMG",
    ),
    R.DEFECTIVE: ("DOA", "DEF", "DEFECTIVE", "INOP", "MALF", "FAILED", "WARR"),
    R.WRONG_ITEM: (
        "WRNG PN",
        "WRONG ITEM",
        "WRNG ITM",
        "MISSHIP",
        "SHRT SHIP",
        "OVR SHIP",
        "WRNG SZ",
    ),
    R.NOT_AS_DESCRIBED: ("NOT AS DESC", "NAD", "SPEC MISMATCH", "NOT PER SPEC", "COUNTERFEIT"),
    R.SIZE_FIT: ("SIZE", "FIT", "WRONG SIZE FOR USER", "SZ/FIT", "TOO SMALL", "TOO LARGE"),
    R.INCOMPATIBLE: ("INCOMPAT", "NOT COMPAT", "WONT FIT EQUIP", "COMPAT"),
    R.QUALITY: ("QUAL", "QUALITY", "POOR QUAL", "QC REJ", "WORKMANSHIP"),
    R.MISSING_PARTS: ("MISSING PARTS", "INCMPLT", "MISSING COMP", "PARTS MISSING", "INCOMPLETE"),
    R.NO_LONGER_NEEDED: ("NLN", "NO LONGER NEEDED", "ORDERED IN ERR", "DUP ORD", "CUST CANCEL"),
    R.LATE_DELIVERY: ("LATE", "LATE DLV", "LATE SHIP", "MISSED DATE", "TOO LATE"),
    R.EXPIRED: ("EXP", "EXPIRED", "SHORT DATED", "OOD", "PAST EXP"),
    R.OTHER: ("OTH", "OTHER", "MISC", "ADMIN", "BILLING"),
}
_EDI_TEXT: dict[ReasonCode, dict[str, tuple[str, ...]]] = {
    R.DAMAGED_IN_TRANSIT: {
        "*": (
            "CTN CRUSHED",
            "RCVD DMG",
            "BOX DMG PRODUCT DMG",
            "DENTED ON RCPT",
            "DMG NOTED ON POD",
            "BROKEN IN SHIPMENT",
            "PLT DMG",
        ),
        "food_service": ("CANS DENTED", "LEAKING ON RCPT", "THAWED ON ARRIVAL"),
        "medical_supplies": ("STERILE PKG PUNCTURED IN TRANSIT", "CTN WET"),
        "electronics": ("SCREEN CRACKED ON RCPT",),
        "industrial_parts": ("FLANGE BENT IN SHIPMENT",),
        "home_goods": ("GLASS BROKEN ON RCPT",),
        "apparel": ("SOILED IN TRANSIT",),
    },
    R.DEFECTIVE: {
        "*": (
            "UNIT NO PWR ON RCPT",
            "FAILED AFTER {days}",
            "INTERMITTENT",
            "WONT START",
            "FAILED BENCH TEST",
            "DOES NOT WORK",
            "NOT FUNCTIONING",
            "FAILED IN FIELD",
        ),
        "industrial_parts": ("BRG SEIZED", "LEAKS AT SEAL", "COIL OPEN", "OUT OF CAL", "NO OUTPUT"),
        "electronics": ("NO PWR", "WONT CHARGE", "NO DISPLAY", "REBOOT LOOP"),
        "medical_supplies": ("ERR CODE ON STARTUP", "NO READING"),
        "food_service": ("MOTOR FAILED", "NO HEAT"),
        "apparel": ("ZIPPER BROKEN",),
        "home_goods": ("NO PWR", "MOTOR FAILED"),
    },
    R.WRONG_ITEM: {
        "*": (
            "ORD {pn} RCVD {pn2}",
            "WRONG ITEM SHIPPED",
            "RCVD WRONG SZ",
            "QTY SHIPPED {qty2} ORD {qty}",
            "PN MISMATCH",
            "SHIPPED WRONG COLOR",
            "RCVD {size2} ORD {size}",
        ),
    },
    R.NOT_AS_DESCRIBED: {
        "*": (
            "DOES NOT MATCH SPEC",
            "NOT PER CATALOG",
            "DIFF FROM DESC",
            "NOT OEM",
            "MATL NOT AS QUOTED",
            "FEATURES MISSING PER DESC",
        ),
    },
    R.SIZE_FIT: {
        "*": (
            "TOO SMALL FOR USER",
            "TOO LARGE",
            "DOES NOT FIT USER",
            "RUNS SMALL",
            "RUNS LARGE",
            "DIMS TOO BIG FOR SPACE",
        ),
    },
    R.INCOMPATIBLE: {
        "*": (
            "NOT COMPAT W CUST EQUIP",
            "DOES NOT FIT CUST MACHINE",
            "NOT COMPATIBLE",
            "WONT INTERFACE",
            "NPT VS BSP",
            "WRONG FOR CUST MODEL",
        ),
    },
    R.QUALITY: {
        "*": (
            "POOR QUALITY",
            "FINISH POOR",
            "MATL FLIMSY",
            "CUST REJ QUALITY",
            "WEARS PREMATURELY",
            "QC FAIL COSMETIC",
        ),
    },
    R.MISSING_PARTS: {
        "*": (
            "MISSING {acc}",
            "KIT INCOMPLETE",
            "NO HARDWARE",
            "MISSING ACCY",
            "COMPONENTS MISSING",
        ),
    },
    R.NO_LONGER_NEEDED: {
        "*": (
            "NO LONGER REQ",
            "ORDERED IN ERROR",
            "DUPLICATE PO",
            "JOB CANCELLED",
            "CUST CHANGED MIND",
            "OVERSTOCK RTN",
            "UNOPENED",
        ),
    },
    R.LATE_DELIVERY: {
        "*": (
            "RCVD AFTER REQ DATE",
            "DLVD LATE",
            "MISSED DLV DATE",
            "ARRIVED TOO LATE",
            "BACKORDER TOO LATE",
        ),
    },
    R.EXPIRED: {
        "*": (
            "EXP {date}",
            "LOT {lot} EXPIRED",
            "SHORT DATED",
            "PAST USE BY",
            "OUT OF DATE",
            "SHELF LIFE < {months} MO",
        ),
    },
    R.OTHER: {
        "*": (
            "PER SALES REP",
            "STOCK ROTATION",
            "BILLING ERR",
            "PRICE DISPUTE",
            "RECALL",
            "CONSIGNMENT RTN",
            "SEE NOTES",
        ),
    },
}
_EDI_PREFIX: tuple[str, ...] = (
    "RTN - ",
    "RTN RSN: ",
    "RMA REQ ",
    "RETURN ",
    "RSN=",
    "RET/",
    "CR REQ - ",
    "",
    "",
    "RTRN ",
)
_EDI_REF: tuple[str, ...] = (
    "PO {po}",
    "PO# {po} LN {n}",
    "ORD {order}",
    "INV {order}",
    "PN {pn} QTY {qty}",
    "QTY {qty}",
    "SO {order}",
    "SN {serial}",
    "LOT {lot}",
    "ITEM {pn}",
)
_EDI_REQUEST: tuple[str, ...] = (
    "REQ CR",
    "CR REQ",
    "REPL",
    "RMA PLS",
    "ISSUE CREDIT",
    "CREDIT",
    "REPLACE",
    "PU REQ",
    "",
)


# ---------------------------------------------------------------------------------------------
# Composition
# ---------------------------------------------------------------------------------------------


def _pick(
    rng: random.Random,
    table: dict[ReasonCode, dict[str, tuple[str, ...]]],
    reason: ReasonCode,
    category: str,
    p_specific: float = 0.5,
) -> str:
    """One phrase for a reason: category-specific with probability p_specific, else generic."""
    by_cat = table[reason]
    specific = by_cat.get(category, ())
    if specific and rng.random() < p_specific:
        return rng.choice(specific)
    return rng.choice(by_cat.get("*" + category) or by_cat["*"])


def _lc_first(text: str) -> str:
    """Lower-case the first letter so a sentence can follow 'but' (keeps 'I' and acronyms)."""
    if len(text) < 2 or not text[0].isupper():
        return text
    if text[1].isupper() or text.startswith(("I ", "I'")) or not text[1].isalpha():
        return text
    return text[0].lower() + text[1:]


def _cap_first(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _strip_stop(text: str) -> str:
    return text[:-1] if text.endswith(".") else text


def _praise(rng: random.Random, spec: NoteSpec) -> str | None:
    """A praise phrase that does not contradict the primary reason, or None."""
    block = _PRAISE_BLOCK.get(spec.reason, "")
    pool = _PRAISE_CAT.get(spec.category, ())
    for _ in range(3):
        text, tags = rng.choice(pool) if pool and rng.random() < 0.6 else rng.choice(_PRAISE_ANY)
        if not (block and block in tags):
            return text
    return None


def _with_praise(rng: random.Random, praise: str, problem: str) -> str:
    u = rng.random()
    if u < 0.4:
        return f"{praise} but {_lc_first(problem)}"
    if u < 0.6:
        return f"{praise}, but {_lc_first(problem)}"
    if u < 0.75:
        return f"{praise}. However, {_lc_first(problem)}"
    if u < 0.87:
        return f"{praise}... {problem}"
    return f"{praise}. Unfortunately {_lc_first(problem)}"


def _with_negation(rng: random.Random, negated: str, problem: str) -> str:
    u = rng.random()
    if u < 0.5:
        return f"{negated}, but {_lc_first(problem)}"
    if u < 0.85:
        return f"{negated}. {problem}"
    return f"{problem} {negated}."


def _secondary_sentence(rng: random.Random, spec: NoteSpec, fill: _Fill, edi: bool) -> str:
    """A subordinate mention of the secondary reason."""
    sec = spec.secondary
    assert sec is not None
    if edi:
        text = _pick(rng, _EDI_TEXT, sec, spec.category).format_map(fill)
        lead = rng.choice(("ALSO ", "+ ", "2ND: ", "AND ", f"+{rng.choice(_EDI_CODE[sec])} "))
        return lead + text
    phrase = _pick(rng, _CONSUMER_PROBLEM, sec, spec.category).format_map(fill)
    return rng.choice(_SECONDARY_LEAD) + _lc_first(phrase)


def _code_reference(
    rng: random.Random, spec: NoteSpec, fill: _Fill, templates: tuple[str, ...]
) -> str | None:
    """A remark about the (wrong) code the customer picked, or None."""
    code = spec.customer_code
    if code is None or code == spec.reason or rng.random() >= 0.3:
        return None
    label = rng.choice(_CODE_LABEL[code])
    return rng.choice(templates).replace("{label}", label)


def _consumer(spec: NoteSpec, rng: random.Random, fill: _Fill) -> str:
    reason, cat = spec.reason, spec.category
    boundary = rng.random() < 0.1  # already contrasts with another reason: no extra wrapping
    if boundary:
        problem = _cap_first(rng.choice(_BOUNDARY[reason]).format_map(fill))
    else:
        problem = _cap_first(_pick(rng, _CONSUMER_PROBLEM, reason, cat, 0.6).format_map(fill))
    u = rng.random()
    shape = "one" if u < 0.2 else ("short" if u < 0.6 else "story")
    out: list[str] = []

    code_ref = _code_reference(rng, spec, fill, _CODE_REF_CONSUMER)
    if shape != "one":
        if rng.random() < (0.3 if shape == "short" else 0.7):
            out.append(rng.choice(_CONSUMER_OPENING).format_map(fill))
        if spec.used_days is not None and rng.random() < 0.5:
            out.append(rng.choice(_CONSUMER_OWNERSHIP).format_map(fill))
        if shape == "story" and rng.random() < 0.4:
            out.append(rng.choice(_CONSUMER_FILLER[cat]).format_map(fill))

    v = rng.random()
    p_praise = 0.2 if shape == "one" else (0.25 if shape == "short" else 0.35)
    if boundary:
        pass
    elif v < p_praise:
        praise = _praise(rng, spec)
        if praise is not None:
            problem = _with_praise(rng, praise, problem)
    elif v < p_praise + 0.18:
        negated = rng.choice(_CONSUMER_NEGATED[reason]).format_map(fill)
        problem = _with_negation(rng, negated, problem)
    if code_ref is not None:
        problem = code_ref + (_lc_first(problem) if code_ref.endswith(": ") else problem)
    out.append(problem)

    if shape == "story" and rng.random() < 0.45:
        again = _cap_first(_pick(rng, _CONSUMER_PROBLEM, reason, cat, 0.6).format_map(fill))
        if again not in problem:
            out.append(again)
    if spec.secondary is not None and spec.secondary != reason:
        out.append(_secondary_sentence(rng, spec, fill, edi=False))
    if shape != "one" and rng.random() < (0.35 if shape == "short" else 0.6):
        out.append(rng.choice(_CONSUMER_DETAIL[reason]).format_map(fill))
    if shape == "story" and rng.random() < 0.5:
        out.append(rng.choice(_CONSUMER_CONSEQUENCE))
    p_request = 0.15 if shape == "one" else (0.4 if shape == "short" else 0.6)
    if rng.random() < p_request:
        specific = _CONSUMER_REQUEST_BY_REASON.get(reason)
        if specific and rng.random() < 0.35:
            out.append(rng.choice(specific).format_map(fill))
        else:
            out.append(rng.choice(_CONSUMER_REQUEST))
    if shape == "story" and rng.random() < 0.15:
        out.append(rng.choice(_CONSUMER_SIGNOFF).format_map(fill))
    return " ".join(out)


def _b2b(spec: NoteSpec, rng: random.Random, fill: _Fill) -> str:
    reason, cat = spec.reason, spec.category
    u = rng.random()
    boundary = u < 0.08
    if boundary:
        problem = rng.choice(_BOUNDARY[reason])
    elif u < 0.38:
        problem = _pick(rng, _CONSUMER_PROBLEM, reason, cat, 0.8)
    else:
        problem = _pick(rng, _B2B_PROBLEM, reason, cat, 0.45)
    problem = _cap_first(problem.format_map(fill))
    out: list[str] = []
    if rng.random() < 0.5:
        out.append(rng.choice(_B2B_GREETING).format_map(fill))
    if rng.random() < 0.7:
        out.append(rng.choice(_B2B_REF).format_map(fill))
    if rng.random() < 0.12 and not boundary:
        negated = rng.choice(_CONSUMER_NEGATED[reason]).format_map(fill)
        problem = _with_negation(rng, negated, problem)
    code_ref = _code_reference(rng, spec, fill, _CODE_REF_B2B)
    if code_ref is not None:
        problem = code_ref + (problem if code_ref.endswith(". ") else _lc_first(problem))
    out.append(problem)
    if rng.random() < 0.2:
        again = _pick(rng, _B2B_PROBLEM, reason, cat, 0.5).format_map(fill)
        if again not in problem:
            out.append(again)
    if spec.secondary is not None and spec.secondary != reason:
        out.append(_secondary_sentence(rng, spec, fill, edi=False))
    if rng.random() < 0.45:
        out.append(rng.choice(_B2B_DETAIL[reason]).format_map(fill))
    if rng.random() < 0.8:
        out.append(rng.choice(_B2B_REQUEST))
    sep = "\n" if rng.random() < 0.25 else " "
    if rng.random() < 0.55:
        out.append(rng.choice(_B2B_SIGNOFF).format_map(fill))
    return sep.join(out)


def _edi(spec: NoteSpec, rng: random.Random, fill: _Fill) -> str:
    reason, cat = spec.reason, spec.category
    out: list[str] = []
    head = rng.choice(_EDI_PREFIX)
    u = rng.random()
    code = rng.choice(_EDI_CODE[reason])
    text = _pick(rng, _EDI_TEXT, reason, cat, 0.5).format_map(fill)
    if spec.customer_code is not None and spec.customer_code != reason and rng.random() < 0.3:
        head += f"CUST RSN {rng.choice(_EDI_CODE[spec.customer_code])} / ACT "
    if u < 0.5:
        out.append(f"{head}{code} - {text}")
    elif u < 0.7:
        out.append(f"{head}{code}")
    elif u < 0.85:
        out.append(f"{head}{text}")
    else:
        out.append(f"{head}{code}, {spec.product} {text}")
    if spec.used_days is not None and rng.random() < 0.3:
        out.append(rng.choice(("IN SVC {days}", "USED {days}", "{days} IN USE")).format_map(fill))
    if spec.secondary is not None and spec.secondary != reason:
        out.append(_secondary_sentence(rng, spec, fill, edi=True))
    for _ in range(rng.choice((0, 1, 1, 2))):
        out.append(rng.choice(_EDI_REF).format_map(fill))
    req = rng.choice(_EDI_REQUEST)
    if req:
        out.append(req)
    note = rng.choice((" ", ". ", "; ", " / ", ", ")).join(out)
    return note.upper() if rng.random() < 0.85 else note.lower()


# Keyboard-plausible typos in a fraction of notes.
def _typo_word(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.random()
    if kind < 0.4:  # swap two neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind < 0.75:  # drop a letter
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]  # double a letter


def _add_typos(text: str, rng: random.Random, n: int) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    for i in rng.sample(candidates, min(n, len(candidates))):
        words[i] = _typo_word(words[i], rng)
    return " ".join(words)


_NOISE: dict[str, tuple[float, float, float, float]] = {
    # typo rate, lower-case-all rate, upper-case-all rate, drop-punctuation rate
    "consumer": (0.22, 0.18, 0.03, 0.12),
    "b2b": (0.1, 0.05, 0.02, 0.05),
    "edi": (0.05, 0.0, 0.0, 0.0),
}


def _noise(text: str, voice: str, rng: random.Random) -> str:
    p_typo, p_lower, p_upper, p_punct = _NOISE[voice]
    if rng.random() < p_typo:
        text = _add_typos(text, rng, rng.choice((1, 1, 2, 3)))
    u = rng.random()
    if u < p_lower:
        text = text.lower()
    elif u < p_lower + p_upper:
        text = text.upper()
    elif voice == "consumer" and u < p_lower + p_upper + 0.12:
        # review-site style: everything lower case except the very first letter
        text = _cap_first(text.lower())
    if rng.random() < p_punct:
        text = text.replace(".", "") if rng.random() < 0.5 else _strip_stop(text)
    if voice == "consumer" and rng.random() < 0.04:
        text = _strip_stop(text) + rng.choice(("!!", "!!!", " :(", "!", "..."))
    return text


_COMPOSERS: dict[str, Callable[[NoteSpec, random.Random, _Fill], str]] = {
    "consumer": _consumer,
    "b2b": _b2b,
    "edi": _edi,
}


def generate_note(spec: NoteSpec, rng: random.Random) -> str:
    """Write one free-text return note for ``spec``, drawing all randomness from ``rng``.

    The note states ``spec.reason`` as its primary reason in the register of ``spec.voice``
    with vocabulary of ``spec.category``; it also mentions ``spec.secondary`` when set and
    may refer to ``spec.customer_code``. Always returns non-empty text.
    """
    if spec.voice not in _COMPOSERS:
        raise ValueError(f"unknown voice {spec.voice!r}; expected one of {VOICES}")
    if spec.category not in PRODUCT_NOUNS:
        raise ValueError(f"unknown category {spec.category!r}; expected one of {CATEGORIES}")
    fill = _Fill(rng, spec)
    text = _noise(_COMPOSERS[spec.voice](spec, rng, fill), spec.voice, rng).strip()
    return text or spec.reason.value.replace("_", " ").lower()


def generate_notes(specs: Sequence[NoteSpec], seed: int) -> list[str]:
    """Write one note per spec; the same specs and seed always give the same list."""
    rng = random.Random(seed)
    return [generate_note(spec, rng) for spec in specs]


def _iter_templates() -> list[str]:
    """Every template string of the vocabulary tables (for tests that check they all format)."""
    found: list[str] = []
    reason_tables: list[dict[ReasonCode, tuple[str, ...]]] = [
        _CONSUMER_DETAIL,
        _CONSUMER_NEGATED,
        _BOUNDARY,
        _B2B_DETAIL,
        _EDI_CODE,
        _CONSUMER_REQUEST_BY_REASON,
    ]
    nested: list[dict[ReasonCode, dict[str, tuple[str, ...]]]] = [
        _CONSUMER_PROBLEM,
        _B2B_PROBLEM,
        _EDI_TEXT,
    ]
    for table in reason_tables:
        for phrases in table.values():
            found.extend(phrases)
    for nested_table in nested:
        for by_cat in nested_table.values():
            for phrases in by_cat.values():
                found.extend(phrases)
    for flat in (
        _CONSUMER_OPENING,
        _CONSUMER_OWNERSHIP,
        _CONSUMER_SIGNOFF,
        _B2B_GREETING,
        _B2B_REF,
        _B2B_SIGNOFF,
        _EDI_REF,
        *_CONSUMER_FILLER.values(),
        *_WORDS.values(),
    ):
        found.extend(flat)
    return found
