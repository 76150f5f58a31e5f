"""Error paths: unknown paths (404), unsupported methods (405), and a sweep of malformed input
over every route that must never produce a 5xx outside injected faults."""

from __future__ import annotations

import json
import random
import re
from collections import Counter

import pytest
import requests

from emulator.app import TWILIO_ENDPOINTS
from tests.emulator.a2p_support import A2P_POLICY, SECONDARY_POLICY
from tests.emulator.conftest import Tenant
from tests.emulator.spec_validation import load_spec
from tests.support.emulator_process import EmulatorProcess

ERROR_FIELDS = {"code", "message", "more_info", "status"}


def assert_twilio_error(response: requests.Response, status: int, code: int | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_FIELDS
    assert body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{body['code']}"
    if code is not None:
        assert body["code"] == code


@pytest.fixture
def http(emulator: EmulatorProcess) -> requests.Session:
    session = requests.Session()
    session.auth = (emulator.account_sid, emulator.auth_token)
    return session


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api",
        "/api/2010-04-01/Accounts",  # v2010 needs the .json suffix
        "/api/2010-04-01/Nope.json",
        "/messaging/v2/Services",
        "/video/v1/Rooms",
        "/2010-04-01/Accounts.json",  # the domain prefix is part of the routing contract
        "/messaging/v1/Services/",
    ],
)
def test_unknown_paths_are_twilio_404(
    http: requests.Session, emulator: EmulatorProcess, path: str
) -> None:
    assert_twilio_error(http.get(emulator.url + path, timeout=5), 404, 20404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/2010-04-01/Accounts.json"),
        ("DELETE", "/api/2010-04-01/Accounts/{parent}.json"),
        ("PUT", "/messaging/v1/Services"),
        ("PATCH", "/iam/v1/Keys"),
        ("POST", "/api/2010-04-01/Accounts/{parent}/AvailablePhoneNumbers.json"),
        (
            "POST",
            "/messaging/v1/Services/MG00000000000000000000000000000000/PhoneNumbers/PN00000000000000000000000000000000",
        ),
        ("DELETE", "/api/2010-04-01/Accounts/{parent}/Usage/Records.json"),
    ],
)
def test_unsupported_methods_are_twilio_405(
    http: requests.Session, emulator: EmulatorProcess, method: str, path: str
) -> None:
    response = http.request(
        method, emulator.url + path.format(parent=emulator.account_sid), timeout=5
    )
    assert_twilio_error(response, 405, 20004)
    assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]


def test_unknown_sids_are_20404(http: requests.Session, emulator: EmulatorProcess) -> None:
    base = f"{emulator.url}/api/2010-04-01/Accounts/{emulator.account_sid}"
    for path in (
        "/Messages/SM0123.json",
        "/Keys/SK" + "0" * 32 + ".json",
        "/IncomingPhoneNumbers/nope.json",
    ):
        assert_twilio_error(http.get(base + path, timeout=5), 404, 20404)
    assert_twilio_error(http.get(f"{emulator.url}/iam/v1/Keys/SK{'0' * 32}", timeout=5), 404, 20404)


def test_page_size_out_of_range_is_400(http: requests.Session, emulator: EmulatorProcess) -> None:
    url = f"{emulator.url}/messaging/v1/Services"
    for query in ("PageSize=0", "PageSize=1001", "Page=-1", "PageToken=garbage", "PageSize=abc"):
        assert_twilio_error(http.get(f"{url}?{query}", timeout=5), 400)


def test_oversized_body_is_413(http: requests.Session, emulator: EmulatorProcess) -> None:
    response = http.post(
        f"{emulator.url}/messaging/v1/Services", data={"FriendlyName": "x" * (2 << 20)}, timeout=10
    )
    assert_twilio_error(response, 413)


JUNK = [
    "",
    " ",
    "x" * 3000,
    "\x00",
    "🙂" * 50,
    "-1",
    "0",
    "1001",
    "99999999999999999999999999",
    "1e309",
    "true",
    "False",
    "null",
    "{",
    "[]",
    "[" * 500 + "]" * 500,
    '{"allow": ["/twilio/' + "a" * 300 + '"]}',
    '{"allow": ' * 300,
    "%ZZ",
    "../../etc/passwd",
    "AC" + "0" * 32,
    "MG" + "g" * 32,
    "PN" + "f" * 32,
    "+1",
    "+" + "9" * 20,
    "+14155550100",
    "http://",
    "https://[::1",
    "http://a_b.com/x",
    "javascript:1",
    "restricted",
    "GET",
    "fixed",
    "2020-13-45",
    "2999-01-01T00:00:00Z",
    "whatsapp:+14155550100",
    "STORM",
    "***",
    "415",
    "US",
    "Local",
    "closed",
    "suspended",
]
RAW_BODIES = [
    b"\xff\xfe\xfa",
    b"FriendlyName=%E0%A4%A",
    b"FriendlyName=%ff%fe",
    b'{"FriendlyName": "json"}',
    b"=&&==&FriendlyName",
    b"A=" + b"B" * 70000,
    b"&".join(b"K%d=v" % i for i in range(1500)),
]


def _param_names() -> list[str]:
    """Every PascalCase parameter name the spec declares for the operations we serve."""
    names = {"PageSize", "Page", "PageToken"}
    for endpoint in TWILIO_ENDPOINTS:
        domain, _, rest = endpoint.path.lstrip("/").partition("/")
        template = re.sub(r"\{\w+\}", "X", "/" + rest)
        spec = load_spec(domain)
        for path, item in spec["paths"].items():
            if re.sub(r"\{\w+\}", "X", path) != template:
                continue
            for operation in (item.get(m) for m in ("get", "post", "delete")):
                if not operation:
                    continue
                names.update(
                    p["name"] for p in operation.get("parameters", []) if p["in"] == "query"
                )
                body = operation.get("requestBody", {}).get("content", {})
                for content in body.values():
                    schema = content["schema"]
                    if "$ref" in schema:
                        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
                    names.update(schema.get("properties", {}))
    return sorted(names)


def _path_values(
    emulator: EmulatorProcess, tenant: Tenant, service_sid: str
) -> dict[str, list[str]]:
    return {
        "AccountSid": [emulator.account_sid, tenant.sid, "AC" + "1" * 32, "junk", "AC%00"],
        "Sid": [
            service_sid,
            "SK" + "0" * 32,
            "MG" + "0" * 32,
            "PN" + "0" * 32,
            "SM" + "0" * 32,
            "x" * 300,
            "%2e%2e",
        ],
        "CountryCode": ["US", "CA", "zz", "USA", "%00"],
        "NumberType": ["Local", "TollFree", "Mobile", "Voip", "nope"],
        "ServiceSid": [service_sid, "MG" + "0" * 32, "junk"],
        # Trust Hub and A2P: real parents are put first by the test; these are the strangers.
        "MessagingServiceSid": [service_sid, "MG" + "0" * 32, "junk"],
        "CustomerProfileSid": ["BU" + "0" * 32, "junk"],
        "TrustProductSid": ["BU" + "0" * 32, "junk"],
        "BrandSid": ["BN" + "0" * 32, "junk"],
        "BrandRegistrationSid": ["BN" + "0" * 32, "junk"],
        "BrandVettingSid": ["VT" + "0" * 32, "junk"],
    }


def test_malformed_input_never_yields_5xx(emulator: EmulatorProcess, tenant: Tenant) -> None:
    rng = random.Random(20240611)
    service_sid = tenant.client.messaging.v1.services.create(friendly_name="sweep").sid
    names = _param_names()
    values = _path_values(emulator, tenant, service_sid)
    hub = tenant.client.trusthub.v1
    values["CustomerProfileSid"].insert(
        0,
        hub.customer_profiles.create(
            friendly_name="sweep", email="s@example.com", policy_sid=SECONDARY_POLICY
        ).sid,
    )
    values["TrustProductSid"].insert(
        0,
        hub.trust_products.create(
            friendly_name="sweep", email="s@example.com", policy_sid=A2P_POLICY
        ).sid,
    )
    session = requests.Session()
    credentials = [
        (emulator.account_sid, emulator.auth_token),
        (tenant.sid, tenant.auth_token),
    ]

    def pick(options: list[str]) -> str:
        # Mostly a real value, so most requests get past routing into the handlers.
        return options[0] if rng.random() < 0.75 else rng.choice(options)

    failures: list[str] = []
    requests_sent = 0
    statuses: list[int] = []
    for endpoint in TWILIO_ENDPOINTS:
        declared = [op.method for op in endpoint.operations]
        for method in [*declared, "PUT", "PATCH", "OPTIONS", "HEAD"]:
            for _ in range(12 if method in declared else 1):
                path = re.sub(r"\{(\w+)\}", lambda m: pick(values[m.group(1)]), endpoint.path)
                params = {name: rng.choice(JUNK) for name in rng.sample(names, rng.randint(0, 6))}
                body: object = None
                if method == "POST":
                    body = rng.choice(RAW_BODIES) if rng.random() < 0.2 else params
                response = session.request(
                    method,
                    emulator.url + path,
                    params=None if method == "POST" else params,
                    data=body,
                    auth=credentials[0] if rng.random() < 0.8 else credentials[1],
                    timeout=10,
                )
                requests_sent += 1
                statuses.append(response.status_code)
                if response.status_code >= 500:
                    failures.append(
                        f"{method} {path} {params!r:.200} -> {response.status_code}"
                        f" {response.text[:200]}"
                    )
                elif response.status_code >= 400 and method != "HEAD":
                    body_json = json.loads(response.text)
                    if (
                        set(body_json) != ERROR_FIELDS
                        or body_json["status"] != response.status_code
                    ):
                        failures.append(
                            f"{method} {path}: not a Twilio error body: {response.text[:200]}"
                        )
    handled = Counter(statuses)
    assert len(names) > 60  # the spec's parameters of every served operation
    assert requests_sent > 500
    assert handled[200] + handled[201] + handled[204] > 100 and handled[400] > 100, handled
    assert not failures, "\n".join(failures[:20])


def test_one_bad_field_at_a_time_never_yields_5xx(
    emulator: EmulatorProcess, tenant: Tenant
) -> None:
    """Valid writes with a single field replaced by junk: every handler's validation path."""
    client = tenant.client
    number = client.available_phone_numbers("US").local.list(
        area_code=415, sms_enabled=True, limit=1
    )[0]
    number_sid = client.incoming_phone_numbers.create(phone_number=number.phone_number).sid
    service_sid = client.messaging.v1.services.create(friendly_name="mutations").sid
    key_sid = client.iam.v1.new_api_key.create(
        account_sid=tenant.sid,
        key_type="restricted",
        policy={"allow": ["/twilio/messaging/messages/read"]},
    ).sid
    message_sid = client.messages.create(to="+14155550100", from_=number.phone_number, body="x").sid
    short_code_sid = emulator.provision_short_code(tenant.sid)["sid"]
    v2010 = f"/api/2010-04-01/Accounts/{tenant.sid}"
    writes: list[tuple[str, dict[str, str]]] = [
        (f"{v2010}.json", {"FriendlyName": "renamed"}),
        (f"{v2010}/Keys.json", {"FriendlyName": "k"}),
        (
            f"{v2010}/IncomingPhoneNumbers.json",
            {"AreaCode": "415", "SmsUrl": "https://h.example.com/s", "VoiceMethod": "GET"},
        ),
        (
            f"{v2010}/IncomingPhoneNumbers/{number_sid}.json",
            {
                "SmsUrl": "https://h.example.com/s",
                "EmergencyStatus": "Active",
                "VoiceReceiveMode": "voice",
            },
        ),
        (
            f"{v2010}/Messages.json",
            {
                "To": "+14155550100",
                "From": number.phone_number,
                "Body": "x",
                "ValidityPeriod": "60",
            },
        ),
        (
            f"{v2010}/Messages.json",
            {
                "To": "+14155550100",
                "MessagingServiceSid": service_sid,
                "Body": "x",
                "ScheduleType": "fixed",
                "SendAt": "2999-01-01T00:00:00Z",
            },
        ),
        (f"{v2010}/Messages/{message_sid}.json", {"Body": ""}),
        (
            f"{v2010}/SMS/ShortCodes/{short_code_sid}.json",
            {"FriendlyName": "sc", "SmsMethod": "GET"},
        ),
        (
            "/messaging/v1/Services",
            {
                "FriendlyName": "s",
                "Usecase": "marketing",
                "ValidityPeriod": "60",
                "StickySender": "true",
            },
        ),
        (
            f"/messaging/v1/Services/{service_sid}",
            {"InboundRequestUrl": "https://h.example.com/i", "ScanMessageContent": "enable"},
        ),
        (f"/messaging/v1/Services/{service_sid}/PhoneNumbers", {"PhoneNumberSid": number_sid}),
        (f"/messaging/v1/Services/{service_sid}/ShortCodes", {"ShortCodeSid": short_code_sid}),
        (f"/messaging/v1/Services/{service_sid}/AlphaSenders", {"AlphaSender": "Acme"}),
        (
            "/iam/v1/Keys",
            {
                "AccountSid": tenant.sid,
                "KeyType": "restricted",
                "Policy": '{"allow": ["/twilio/messaging/messages/read"]}',
            },
        ),
        (
            f"/iam/v1/Keys/{key_sid}",
            {"FriendlyName": "k", "Policy": '{"allow": ["/twilio/messaging/services/read"]}'},
        ),
    ]
    rng = random.Random(7)
    extra = _param_names()
    session = requests.Session()
    session.auth = (tenant.sid, tenant.auth_token)
    failures: list[str] = []
    for path, base in writes:
        for _ in range(30):
            params = dict(base)
            field = rng.choice([*params, rng.choice(extra)])
            params[field] = rng.choice(JUNK)
            response = session.post(emulator.url + path, data=params, timeout=10)
            if response.status_code >= 500:
                failures.append(
                    f"POST {path} {field}={params[field]!r:.80} -> {response.status_code}"
                    f" {response.text[:200]}"
                )
    assert not failures, "\n".join(failures[:20])
