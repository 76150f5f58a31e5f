"""What a message body reads as: verification, marketing or notifications.

A heuristic, on purpose small and readable: it only has to tell a service that sends sign-in
codes and promotions alike (two use cases in one service, which A2P campaigns and opt-out
handling cannot both fit) from one that sends one kind of message. Bodies are classified as
the pages stream by and only the counts are kept; no body is stored or printed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Final

VERIFICATION: Final = "verification"
MARKETING: Final = "marketing"
NOTIFICATIONS: Final = "notifications"

_CODE_WORDS = re.compile(r"\b(code|otp|passcode|verification|verify|one-time)\b", re.IGNORECASE)
_CODE = re.compile(r"\b\d{4,8}\b")
_MARKETING = re.compile(
    r"(\d+\s?% off|\bsale\b|\boffer\b|\bpromo|\bdiscount|\bsave \$|\bdeal\b|\bcoupon|"
    r"\bexclusive\b)",
    re.IGNORECASE,
)
_NOTIFICATION = re.compile(
    r"\b(remind\w*|appointment|order|shipped|delivered|delivery|confirm\w*|scheduled|alert|"
    r"invoice|payment|receipt)\b",
    re.IGNORECASE,
)

# A use case counts as served when it is at least this share of the classified sample and at
# least MIN_MESSAGES messages: one odd message does not make a service mixed.
MIN_SHARE: Final = 0.1
MIN_MESSAGES: Final = 2


def classify(body: str | None) -> str | None:
    """The use case a body reads as, or None when it says nothing recognisable."""
    if not body:
        return None
    if _CODE_WORDS.search(body) and _CODE.search(body):
        return VERIFICATION
    if _MARKETING.search(body):
        return MARKETING
    if _NOTIFICATION.search(body):
        return NOTIFICATIONS
    return None


def count(bodies: Iterable[str | None]) -> Counter[str]:
    return Counter(kind for kind in map(classify, bodies) if kind is not None)


def use_cases_served(traffic: Mapping[str, int]) -> list[str]:
    """The use cases a service's sampled traffic shows, most messages first."""
    total = sum(traffic.values())
    if not total:
        return []
    served = [
        (messages, use_case)
        for use_case, messages in traffic.items()
        if messages >= MIN_MESSAGES and messages / total >= MIN_SHARE
    ]
    return [use_case for _, use_case in sorted(served, reverse=True)]
