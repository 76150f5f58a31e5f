"""A deterministic fake inventory of purchasable phone numbers.

Numbers are generated from a hash of their area code and position, so a search answers the same
numbers on every run and machine (minus those already bought). Any NANP number in a known area
code (or a toll-free prefix) is "in inventory"; everything else is not, which lets tests reach
Twilio's 21421/21422 errors. About one local number in ten is voice-only, so searches with
SmsEnabled and the 21715 pool rule have something to filter.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class AreaCode:
    npa: str
    country: str
    region: str
    locality: str
    rate_center: str
    lata: str
    postal_code: str
    latitude: float
    longitude: float


LOCAL_AREA_CODES: tuple[AreaCode, ...] = (
    AreaCode("415", "US", "CA", "San Francisco", "SNFC CNTL", "722", "94103", 37.7749, -122.4194),
    AreaCode("510", "US", "CA", "Oakland", "OKLD", "722", "94612", 37.8044, -122.2712),
    AreaCode("650", "US", "CA", "San Mateo", "SNMT", "722", "94401", 37.5630, -122.3255),
    AreaCode("212", "US", "NY", "New York", "NWYRCYZN01", "132", "10001", 40.7506, -73.9972),
    AreaCode("646", "US", "NY", "New York", "NWYRCYZN01", "132", "10011", 40.7420, -74.0018),
    AreaCode("312", "US", "IL", "Chicago", "CHCG", "358", "60601", 41.8853, -87.6216),
    AreaCode("617", "US", "MA", "Boston", "BOSTON", "128", "02108", 42.3576, -71.0636),
    AreaCode("206", "US", "WA", "Seattle", "SEATTLE", "674", "98101", 47.6101, -122.3344),
    AreaCode("512", "US", "TX", "Austin", "AUSTIN", "558", "78701", 30.2711, -97.7437),
    AreaCode("305", "US", "FL", "Miami", "MIAMI", "460", "33130", 25.7663, -80.2052),
    AreaCode("404", "US", "GA", "Atlanta", "ATLANTA", "438", "30303", 33.7537, -84.3863),
    AreaCode("303", "US", "CO", "Denver", "DENVER", "656", "80202", 39.7525, -104.9995),
    AreaCode("808", "US", "HI", "Hilo", "HILO", "834", "96720", 19.7200, -155.0900),
    AreaCode("416", "CA", "ON", "Toronto", "TORONTO", "888", "M5H", 43.6532, -79.3832),
    AreaCode("604", "CA", "BC", "Vancouver", "VANCOUVER", "888", "V6B", 49.2827, -123.1207),
    AreaCode("514", "CA", "QC", "Montreal", "MONTREAL", "888", "H2Y", 45.5017, -73.5673),
)
TOLL_FREE_PREFIXES = ("800", "833", "844", "855", "866", "877", "888")

COUNTRIES = {"US": "United States", "CA": "Canada"}
# Number types searchable per country, as Twilio names the sub-resources.
COUNTRY_TYPES = {"US": ("Local", "TollFree"), "CA": ("Local",)}

_BY_NPA = {area.npa: area for area in LOCAL_AREA_CODES}
_KEYPAD = {
    letter: str(digit)
    for digit, letters in {
        2: "abc",
        3: "def",
        4: "ghi",
        5: "jkl",
        6: "mno",
        7: "pqrs",
        8: "tuv",
        9: "wxyz",
    }.items()
    for letter in letters
}
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_NANP = re.compile(r"^\+1([2-9]\d{2})([2-9]\d{6})$")


@dataclass(frozen=True)
class InventoryNumber:
    phone_number: str
    number_type: str  # "local" | "toll-free"
    iso_country: str
    area: AreaCode | None  # None for toll-free numbers
    voice: bool
    sms: bool
    mms: bool
    fax: bool

    @property
    def friendly_name(self) -> str:
        national = self.phone_number[2:]
        return f"({national[:3]}) {national[3:6]}-{national[6:]}"

    @property
    def capabilities(self) -> dict[str, bool]:
        return {"voice": self.voice, "sms": self.sms, "mms": self.mms, "fax": self.fax}


def is_e164(value: str) -> bool:
    return _E164.match(value) is not None


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def lookup(phone_number: str) -> InventoryNumber | None:
    """The inventory entry for a number, whether or not someone already owns it."""
    match = _NANP.match(phone_number)
    if not match:
        return None
    npa = match.group(1)
    if npa in TOLL_FREE_PREFIXES:
        return InventoryNumber(phone_number, "toll-free", "US", None, True, True, True, False)
    area = _BY_NPA.get(npa)
    if area is None:
        return None
    voice_only = _hash(phone_number) % 10 == 0
    sms = not voice_only
    return InventoryNumber(
        phone_number, "local", area.country, area, True, sms, sms and area.country == "US", False
    )


def contains_pattern(value: str) -> str | None:
    """Twilio's Contains (digits, letters as keypad digits, `*` any digit) as a digit pattern."""
    pattern = value.strip()
    if pattern.startswith("+"):
        pattern = pattern[1:]
        if pattern.startswith("1") and len(pattern) == 11:
            pattern = pattern[1:]
    if not 2 <= len(pattern) <= 16 or not re.fullmatch(r"[0-9A-Za-z*]+", pattern):
        return None
    return "".join(_KEYPAD.get(ch.lower(), ch) for ch in pattern)


def _matches(national: str, pattern: str) -> bool:
    width = len(pattern)
    for start in range(len(national) - width + 1):
        if all(
            p in ("*", d) for p, d in zip(pattern, national[start : start + width], strict=True)
        ):
            return True
    return False


def _candidates(npa: str, pattern: str | None) -> Iterator[str]:
    """Deterministic national numbers in an area code; built to fit `pattern` when given."""
    offsets: list[int] = []
    if pattern:
        # Place the pattern in the subscriber part first, then over the area code; keep only
        # placements that agree with the area code and leave the exchange starting with 2-9.
        order = [*range(3, 11 - len(pattern)), *range(0, min(3, 11 - len(pattern)))]
        offsets = [o for o in order if _fits(npa, pattern, o)]
        if not offsets:
            return
    index = 0
    while True:
        index += 1
        digest = _hash(f"{npa}:{pattern or ''}:{index}")
        national = f"{npa}{2 + digest % 8}{(digest // 8) % 10**6:06d}"
        if not pattern:
            yield national
            continue
        offset = offsets[index % len(offsets)]
        digits = list(national)
        for position, symbol in enumerate(pattern, start=offset):
            if symbol != "*":
                digits[position] = symbol
        yield "".join(digits)


def _fits(npa: str, pattern: str, offset: int) -> bool:
    for position, symbol in enumerate(pattern, start=offset):
        if symbol == "*":
            continue
        if position < 3 and npa[position] != symbol:
            return False
        if position == 3 and symbol in "01":
            return False
    return True


@dataclass(frozen=True)
class SearchFilters:
    area_code: str | None = None
    contains: str | None = None  # already a digit pattern (contains_pattern)
    sms: bool | None = None
    mms: bool | None = None
    voice: bool | None = None
    fax: bool | None = None
    in_region: str | None = None
    in_locality: str | None = None
    in_postal_code: str | None = None
    in_rate_center: str | None = None
    in_lata: str | None = None
    near_npa: str | None = None
    near_lat_long: tuple[float, float] | None = None
    distance_miles: float = 25.0


def _miles(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 3958.8 * 2 * math.asin(math.sqrt(h))


def _prefixes(country: str, number_type: str, f: SearchFilters) -> list[str]:
    if number_type == "TollFree":
        prefixes = list(TOLL_FREE_PREFIXES) if country == "US" else []
        located = any((f.in_region, f.in_locality, f.in_postal_code, f.in_rate_center, f.in_lata))
        if located or f.near_lat_long or f.near_npa:
            return []
        return [p for p in prefixes if f.area_code in (None, p)]
    areas = [a for a in LOCAL_AREA_CODES if a.country == country]

    def keep(a: AreaCode) -> bool:
        return (
            f.area_code in (None, a.npa)
            and f.in_region in (None, a.region)
            and (f.in_locality is None or f.in_locality.lower() == a.locality.lower())
            and f.in_postal_code in (None, a.postal_code)
            and (f.in_rate_center is None or f.in_rate_center.upper() == a.rate_center)
            and f.in_lata in (None, a.lata)
            and f.near_npa in (None, a.npa)
            and (
                f.near_lat_long is None
                or _miles(f.near_lat_long, (a.latitude, a.longitude)) <= f.distance_miles
            )
        )

    return [a.npa for a in areas if keep(a)]


def search(
    country: str,
    number_type: str,
    filters: SearchFilters,
    limit: int,
    is_taken: Callable[[str], bool],
) -> list[InventoryNumber]:
    """Up to `limit` unowned numbers matching the filters, interleaving matching area codes."""
    prefixes = _prefixes(country, number_type, filters)
    if not prefixes:
        return []
    streams = {npa: _candidates(npa, filters.contains) for npa in prefixes}
    found: list[InventoryNumber] = []
    seen: set[str] = set()
    budget = max(2_000, 200 * limit)
    while streams and len(found) < limit and budget > 0:
        for npa in list(streams):
            budget -= 1
            national = next(streams[npa], None)
            if national is None:
                del streams[npa]
                continue
            number = lookup("+1" + national)
            if number is None or number.phone_number in seen:
                continue
            seen.add(number.phone_number)
            if filters.contains and not _matches(national, filters.contains):
                continue
            if not _capable(number, filters) or is_taken(number.phone_number):
                continue
            found.append(number)
            if len(found) >= limit:
                break
    return found


def _capable(number: InventoryNumber, f: SearchFilters) -> bool:
    wanted = (
        (f.sms, number.sms),
        (f.mms, number.mms),
        (f.voice, number.voice),
        (f.fax, number.fax),
    )
    return all(want is None or want == have for want, have in wanted)


def first_available(npa: str, is_taken: Callable[[str], bool]) -> InventoryNumber | None:
    """What Twilio picks when buying by AreaCode: the first free SMS-capable number."""
    country = _BY_NPA[npa].country if npa in _BY_NPA else "US"
    number_type = "TollFree" if npa in TOLL_FREE_PREFIXES else "Local"
    matches = search(country, number_type, SearchFilters(area_code=npa, sms=True), 1, is_taken)
    return matches[0] if matches else None


def area_code_known(npa: str) -> bool:
    return npa in _BY_NPA or npa in TOLL_FREE_PREFIXES
