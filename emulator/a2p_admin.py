"""Admin API for A2P registrations (no Twilio auth, loopback only, like all of /_emulator).

| Route | Does |
| --- | --- |
| `GET /_emulator/a2p/failure-reasons` | the reasons `reject` accepts, per kind |
| `GET /_emulator/a2p/registrations/{sid}` | status, hold flag and next due step of a BU/BN/QE |
| `POST /_emulator/a2p/registrations/{sid}` | `{"action": "approve" / "reject" / "hold" / "resume", "error_code": 30909}` |
| `POST /_emulator/a2p/primary-customer-profile` | seed a twilio-approved primary customer profile (Twilio: Console only) |
"""  # noqa: E501

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator import a2p_catalog
from emulator.registrations import RegistrationError, find_registration
from emulator.runtime import Emulator
from emulator.wire import new_sid, now

ACTIONS = ("approve", "reject", "hold", "resume")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json() if await request.body() else {}
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def routes(emulator: Emulator) -> list[Route]:
    async def failure_reasons(request: Request) -> Response:
        return JSONResponse(
            {
                kind: [
                    {"code": code, "description": description, "fields": list(fields)}
                    for code, (description, fields) in reasons.items()
                ]
                for kind, reasons in a2p_catalog.FAILURE_REASONS.items()
            }
        )

    async def registration(request: Request) -> Response:
        registrations = emulator.registrations
        assert registrations is not None
        sid = request.path_params["sid"]
        record = find_registration(emulator.store, sid)
        if record is None:
            return _error(404, f"no bundle, brand or campaign {sid!r}")
        if request.method == "POST":
            body = await _body(request)
            if body is None:
                return _error(400, "body must be a JSON object")
            action = body.get("action")
            if action not in ACTIONS:
                return _error(400, f"action must be one of {', '.join(ACTIONS)}")
            code = body.get("error_code")
            if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
                return _error(400, "error_code must be an integer")
            try:
                if action == "approve":
                    registrations.approve(record)
                elif action == "reject":
                    registrations.reject(record, code)
                elif action == "hold":
                    registrations.hold(record)
                else:
                    registrations.resume(record)
            except RegistrationError as exc:
                return _error(400, str(exc))
        return JSONResponse(registrations.describe(record))

    async def primary_profile(request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return _error(400, "body must be a JSON object")
        account_sid = body.get("account_sid") or emulator.config.account_sid
        account = (
            emulator.store.get(account_sid, "account") if isinstance(account_sid, str) else None
        )
        if account is None:
            return _error(404, f"no account {account_sid!r}")
        name = body.get("friendly_name", "Primary Customer Profile")
        email = body.get("email", "compliance@example.com")
        if not isinstance(name, str) or not isinstance(email, str):
            return _error(400, "friendly_name and email must be strings")
        record = emulator.create(
            a2p_catalog.CUSTOMER_PROFILE,
            new_sid("BU"),
            account.sid,
            {
                "friendly_name": name[:64],
                "email": email,
                "policy_sid": a2p_catalog.PRIMARY_PROFILE_POLICY,
                "status": "twilio-approved",
                "valid_until": now() + 365 * 24 * 3600,
                "errors": None,
                "status_callback": None,
            },
        )
        return JSONResponse(
            {
                "sid": record.sid,
                "account_sid": account.sid,
                "policy_sid": record.doc["policy_sid"],
                "status": record.doc["status"],
            },
            status_code=201,
        )

    return [
        Route("/_emulator/a2p/failure-reasons", failure_reasons, methods=["GET"]),
        Route("/_emulator/a2p/registrations/{sid}", registration, methods=["GET", "POST"]),
        Route("/_emulator/a2p/primary-customer-profile", primary_profile, methods=["POST"]),
    ]
