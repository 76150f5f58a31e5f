"""One webhook URL rulebook, in two copies: the stack-file model's (architecture/urls.py) and
the policy pack's (policies/twilio_guardrails/urls.py, which may not import the program).
Held equal byte for byte, and to the same verdicts on a table of tricky URLs."""

from __future__ import annotations

import pytest

import architecture.urls as model_rules
import twilio_guardrails.urls as pack_rules
from tests.support.pulumi_cli import REPO_ROOT

LOOPBACK = "points at a loopback host"
WHITESPACE = "contains whitespace"
NOT_ABSOLUTE = "is not an absolute http(s) URL"
CREDENTIALS = "embeds credentials"

# (url, verdict where loopback is allowed, verdict where it is not): a clause's start or None.
TABLE: list[tuple[object, str | None, str | None]] = [
    ("https://hooks.example.com/twilio/status", None, None),
    ("https://hooks.example.com:8443/s?x=1#f", None, None),
    ("HTTPS://Hooks.Example.COM/s", None, None),
    ("https://hooks.example.com:443/s", None, None),
    ("http://hooks.example.com/s", "must use https", "must use https"),
    ("http://127.0.0.2.example.com/s", "must use https", "must use https"),
    # whitespace, anywhere and of any kind
    (" https://hooks.example.com/s", WHITESPACE, WHITESPACE),
    ("https://hooks.example.com/s ", WHITESPACE, WHITESPACE),
    ("https://hooks.example.com/a b", WHITESPACE, WHITESPACE),
    ("https://hooks.example.com/s\t", WHITESPACE, WHITESPACE),
    ("https://hooks.example.com/s\n", WHITESPACE, WHITESPACE),
    ("https://hooks.example.com/\u00a0s", WHITESPACE, WHITESPACE),
    ("https://hooks.example.com/\u2003s", WHITESPACE, WHITESPACE),
    ("https://hooks .example.com/s", WHITESPACE, WHITESPACE),
    ("https://hooks.example.com\u3000/s", WHITESPACE, WHITESPACE),
    # userinfo
    ("https://user:pw@hooks.example.com/s", CREDENTIALS, CREDENTIALS),
    ("https://user@hooks.example.com/s", CREDENTIALS, CREDENTIALS),
    ("https://:pw@hooks.example.com/s", CREDENTIALS, CREDENTIALS),
    ("http://user:pw@localhost/s", CREDENTIALS, CREDENTIALS),
    # internationalised names: Twilio gets the ASCII form
    ("https://bücher.example/s", "has a non-ASCII hostname", "has a non-ASCII hostname"),
    ("https://xn--bcher-kva.example/s", None, None),
    ("https://HOOKS.xn--bcher-kva.example/s", None, None),
    ("https://bücher.example:8443/s", "has a non-ASCII hostname", "has a non-ASCII hostname"),
    ("http://localhost\u200b/s", "has a non-ASCII hostname", "has a non-ASCII hostname"),
    # ports
    ("https://hooks.example.com:0/s", "has port 0", "has port 0"),
    ("https://hooks.example.com:65536/s", "is not a valid URL", "is not a valid URL"),
    ("https://hooks.example.com:https/s", "is not a valid URL", "is not a valid URL"),
    ("http://localhost:0/s", "has port 0", "has port 0"),
    ("https://hooks.example.com:65535/s", None, None),
    ("https://hooks.example.com:/s", None, None),
    # underscores
    ("https://my_hooks.example.com/s", "has an underscore", "has an underscore"),
    ("https://hooks.example.com/my_path", None, None),
    ("https://_dmarc.example.com/s", "has an underscore", "has an underscore"),
    # loopback, in every form an HTTP client accepts, plain http or https
    ("http://127.0.0.1:4020/twilio/status", None, LOOPBACK),
    ("https://127.0.0.1/s", None, LOOPBACK),
    ("http://localhost:8000/in", None, LOOPBACK),
    ("http://LOCALHOST./in", None, LOOPBACK),
    ("http://api.localhost/in", None, LOOPBACK),
    ("http://127.1/s", None, LOOPBACK),
    ("http://127.255.255.254/s", None, LOOPBACK),
    ("http://0x7f.0.0.1/s", None, LOOPBACK),
    ("http://0x7f000001/s", None, LOOPBACK),
    ("http://2130706433/s", None, LOOPBACK),
    ("http://[::1]:9/x", None, LOOPBACK),
    ("http://[::ffff:127.0.0.1]/x", None, LOOPBACK),
    ("http://[::ffff:7f00:1]/x", None, LOOPBACK),
    ("http://[0:0:0:0:0:0:0:1]/x", None, LOOPBACK),
    ("http://127.0.0.1./s", None, LOOPBACK),
    ("http://0/s", None, LOOPBACK),
    ("http://017700000001/s", None, LOOPBACK),
    ("http://0.0.0.0:4020/s", None, LOOPBACK),
    ("http://[::]:4020/s", None, LOOPBACK),
    ("http://10.0.0.1/s", "must use https", "must use https"),
    ("http://localhost.example.com/s", "must use https", "must use https"),
    # not absolute http(s) URLs
    ("ftp://hooks.example.com/s", NOT_ABSOLUTE, NOT_ABSOLUTE),
    ("/twilio/status", NOT_ABSOLUTE, NOT_ABSOLUTE),
    ("hooks.example.com/s", NOT_ABSOLUTE, NOT_ABSOLUTE),
    ("https:///s", NOT_ABSOLUTE, NOT_ABSOLUTE),
    ("collectr", NOT_ABSOLUTE, NOT_ABSOLUTE),
    ("https://[::1/x", "is not a valid URL", "is not a valid URL"),
    ("", "is not a URL", "is not a URL"),
    (42, "is not a URL", "is not a URL"),
    (None, "is not a URL", "is not a URL"),
]


def test_the_two_copies_are_the_same_file() -> None:
    model = (REPO_ROOT / "architecture" / "urls.py").read_text()
    pack = (REPO_ROOT / "policies" / "twilio_guardrails" / "urls.py").read_text()
    assert model == pack, "edit architecture/urls.py, then copy it over the pack's"


@pytest.mark.parametrize(("url", "allowed", "strict"), TABLE, ids=[repr(r[0]) for r in TABLE])
def test_the_model_and_the_pack_give_the_same_verdict(url, allowed, strict) -> None:
    for loopback_allowed, expected in ((True, allowed), (False, strict)):
        found = model_rules.problem(url, loopback_allowed)
        assert found == pack_rules.problem(url, loopback_allowed)
        if expected is None:
            assert found is None, (url, loopback_allowed, found)
        else:
            assert found is not None and found.startswith(expected), (url, loopback_allowed)
        if isinstance(url, str):
            assert model_rules.is_loopback(url) == pack_rules.is_loopback(url)
