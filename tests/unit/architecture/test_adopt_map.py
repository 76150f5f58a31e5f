"""The stack file's `adopt` map: which resources may adopt what, what an adopted object may
keep as found, and what the plan makes of it (no identity tag, the SID carried through)."""

from __future__ import annotations

from typing import Any

from arch_samples import only_problem, problems_of, settings_of

import identity_tags
from architecture import adoption, build_plan, fields

ACCOUNT = "AC" + "1" * 32
KEY = "SK" + "2" * 32
SERVICE = "MG" + "3" * 32
NUMBER = "PN" + "4" * 32
E164 = "+14155550100"
HTTP_CALLBACK = "http://hooks.acme.example.com/status"


def found_estate(adopt: dict[str, str] | None = None, **service_fields: Any) -> dict[str, Any]:
    """A production tenant as discovery writes it: a standard key, a service with a plain
    http callback and one exact number."""
    return {
        "style": "direct",
        "environments": ["production"],
        "tenants": [
            {
                "key": "acme",
                "display_name": "Acme Corp",
                "environment": "production",
                "api_keys": [{"name": "web", "kind": "standard", "friendly_name": "acme web"}],
                "services": [
                    {
                        "use_case": "notifications",
                        "friendly_name": "Acme alerts",
                        "webhooks": {"status_callback": HTTP_CALLBACK},
                        "senders": {
                            "phone_numbers": {
                                "numbers": [E164],
                                "sms_webhooks": {"sms_url": "http://hooks.acme.example.com/in"},
                            }
                        },
                        **service_fields,
                    }
                ],
            }
        ],
        "adopt": adopt
        if adopt is not None
        else {
            "acme": ACCOUNT,
            "acme-key-web": KEY,
            "acme-svc-notifications": SERVICE,
            "acme-num-14155550100": NUMBER,
        },
    }


def problem_at(problems: tuple[str, ...], path: str) -> str:
    found = [p[len(path) + 2 :] for p in problems if p.startswith(f"{path}: ")]
    assert len(found) == 1, problems
    return found[0]


def test_a_discovered_estate_is_valid_with_what_it_holds_as_found() -> None:
    settings = settings_of(found_estate(), collector_url=None)
    assert settings.architecture.adopt["acme-svc-notifications"] == SERVICE


def test_without_adoption_the_same_values_are_refused() -> None:
    problems = problems_of(found_estate(adopt={}), collector_url=None)
    assert any("must use https" in problem for problem in problems), problems


def test_a_service_not_adopted_may_not_keep_plain_http() -> None:
    adopt = {"acme": ACCOUNT, "acme-key-web": KEY, "acme-num-14155550100": NUMBER}
    problems = problems_of(found_estate(adopt=adopt), collector_url=None)
    message = only_problem(problems, "tenants[0].services[0].webhooks.status_callback")
    assert message.endswith("must use https")


def test_an_adopted_standard_key_in_production_is_accepted_until_rotated() -> None:
    estate = found_estate()
    estate["tenants"][0]["api_keys"][0]["rotation"] = 1
    problems = problems_of(estate, collector_url=None)
    message = only_problem(problems, "tenants[0].api_keys[0].kind")
    assert "restricted" in message


def test_adopt_names_only_resources_of_the_stack() -> None:
    adopt = {"acme": ACCOUNT, "acme-svc-marketing": SERVICE}
    problems = problems_of(found_estate(adopt=adopt, webhooks={}, senders={}), collector_url=None)
    message = problem_at(problems, "adopt.acme-svc-marketing")
    assert "is not a resource of this stack" in message


def test_adopt_sid_must_be_of_the_resource_kind() -> None:
    adopt = {"acme": KEY}
    problems = problems_of(found_estate(adopt=adopt, webhooks={}, senders={}), collector_url=None)
    message = problem_at(problems, "adopt.acme")
    assert "is not an account SID (AC…)" in message


def test_one_object_is_adopted_by_one_resource_only() -> None:
    adopt = {"acme": ACCOUNT, "acme-svc-notifications": SERVICE, "acme-key-web": SERVICE}
    problems = problems_of(found_estate(adopt=adopt, senders={}), collector_url=None)
    assert any("already adopted by 'acme-svc-notifications'" in problem for problem in problems), (
        problems
    )


def test_adopt_sids_look_like_twilio_sids() -> None:
    problems = problems_of(found_estate(adopt={"acme": "AC123"}), collector_url=None)
    assert any(problem.startswith("adopt.acme:") for problem in problems), problems


def test_the_plan_carries_the_sids_and_keeps_the_names_users_see() -> None:
    plan = build_plan(settings_of(found_estate(), collector_url=None))
    [account] = plan.accounts
    assert (account.adopt_sid, account.friendly_name) == (ACCOUNT, "Acme Corp")
    [key] = account.api_keys
    assert (key.adopt_sid, key.friendly_name) == (KEY, "acme web")
    [service] = account.services
    assert (service.adopt_sid, service.friendly_name) == (SERVICE, "Acme alerts")
    [number] = service.numbers
    assert (number.adopt_sid, number.friendly_name, number.phone_number) == (NUMBER, None, E164)
    assert identity_tags.parse_tag(service.friendly_name) is None


def test_a_rotated_key_is_minted_and_tagged() -> None:
    estate = found_estate()
    key = estate["tenants"][0]["api_keys"][0]
    key.update(kind="restricted", permissions=["/twilio/messaging/messages/create"], rotation=1)
    plan = build_plan(settings_of(estate, collector_url=None))
    [planned] = plan.accounts[0].api_keys
    assert planned.adopt_sid is None
    assert planned.friendly_name.startswith("acme web [tlz:")


def test_objects_not_adopted_keep_their_identity_tags() -> None:
    adopt = {"acme": ACCOUNT}
    callback = {"status_callback": "https://hooks.acme.example.com/status"}
    estate = found_estate(adopt=adopt, webhooks=callback, senders={})
    estate["tenants"][0]["api_keys"][0].update(
        kind="restricted", permissions=["/twilio/messaging/messages/create"]
    )
    plan = build_plan(settings_of(estate, collector_url=None))
    [service] = plan.accounts[0].services
    assert service.adopt_sid is None
    assert identity_tags.parse_tag(service.friendly_name) == service.tag


def moved_estate(source: str) -> dict[str, Any]:
    """Acme's adopted number moves in from `source`; a second adopted tenant, Bayside."""
    estate = found_estate()
    estate["tenants"].append(
        {"key": "bayside", "display_name": "Bayside", "environment": "production"}
    )
    estate["adopt"]["bayside"] = "AC" + "5" * 32
    estate["transfers"] = {E164: source}
    return estate


def test_a_transfer_names_where_the_number_lives_now() -> None:
    for source, resolved in (
        ("parent", "parent"),
        ("bayside", "AC" + "5" * 32),
        ("AC" + "6" * 32, "AC" + "6" * 32),
    ):
        plan = build_plan(settings_of(moved_estate(source), collector_url=None))
        [number] = plan.accounts[0].services[0].numbers
        assert (number.adopt_sid, number.transfer_from) == (NUMBER, resolved)


def test_a_transfer_moves_an_adopted_number_from_another_account() -> None:
    problems = problems_of(moved_estate("acme"), collector_url=None)
    assert problem_at(problems, "transfers.+14155550100") == "'+14155550100' is already in 'acme'"
    estate = moved_estate("parent")
    estate["transfers"] = {"+14155550199": "parent"}
    problems = problems_of(estate, collector_url=None)
    assert "is not an adopted number of a tenant" in problem_at(problems, "transfers.+14155550199")
    problems = problems_of(moved_estate("nobody"), collector_url=None)
    assert "is neither 'parent', a tenant key" in problem_at(problems, "transfers.+14155550100")


def test_the_adopt_rules_name_the_parent_as_the_model_does() -> None:
    assert adoption.PARENT == fields.PARENT_ACCOUNT_KEY
