"""One test per schema rule: the message names the exact field path and the rule.

(Over 500 lines: one short test per rule of the stack file, grouped by section in the file's
order, so this module is the index of the rules as a reader looks them up.)
"""

from __future__ import annotations

import dataclasses

import pytest
from arch_samples import (
    DEV_COLLECTOR,
    SEND,
    isv_non_production,
    isv_production,
    only_problem,
    problems_of,
    service,
    settings_of,
    tenant,
)
from pydantic import ValidationError

from architecture import Architecture, MessagingService, Tenant
from architecture.rulebook import Violation, validate_tree

# --- the valid baseline ---------------------------------------------------------------------


def test_the_baseline_samples_are_valid() -> None:
    assert settings_of(isv_production()).architecture.tenants[0].key == "acme"
    dev = settings_of(isv_non_production(), collector_url=DEV_COLLECTOR, stack="dev")
    assert [t.environment for t in dev.architecture.tenants] == ["development", "staging"]


def test_models_are_frozen() -> None:
    settings = settings_of(isv_production())
    with pytest.raises(ValidationError, match="frozen"):
        settings.architecture.tenants[0].key = "other"  # type: ignore[misc]


# --- field shapes -----------------------------------------------------------------------------


def test_use_case_must_be_a_known_one() -> None:
    data = isv_production(tenant(services=[service("promo")]))
    message = only_problem(problems_of(data), "tenants[0].services[0].use_case")
    assert message == (
        "'promo' is not one of notifications, marketing, verification, discussion, poll, undeclared"
    )


def test_style_must_be_direct_or_isv() -> None:
    data = isv_production()
    data["style"] = "reseller"
    assert only_problem(problems_of(data), "style") == "'reseller' is not one of direct, isv"


def test_environment_must_be_known() -> None:
    data = isv_production(tenant(environment="prod"))
    message = only_problem(problems_of(data), "tenants[0].environment")
    assert message == "'prod' is not one of development, staging, production"


def test_a_typo_in_a_field_name_names_the_field() -> None:
    bad = tenant()
    bad["servces"] = bad.pop("services")
    message = only_problem(problems_of(isv_production(bad)), "tenants[0].servces")
    assert message == "unknown field 'servces'; did you mean 'services'?"


def test_an_unknown_field_lists_the_allowed_ones() -> None:
    bad = service()
    bad["webhooks"]["zzz"] = "x"
    message = only_problem(
        problems_of(isv_production(tenant(services=[bad]))), "tenants[0].services[0].webhooks.zzz"
    )
    assert message.startswith("unknown field 'zzz'; expected one of inbound_request_url,")


def test_required_fields_are_named() -> None:
    bad = tenant()
    del bad["display_name"]
    assert only_problem(problems_of(isv_production(bad)), "tenants[0].display_name") == (
        "is required"
    )


def test_a_wrong_type_says_what_was_expected() -> None:
    data = isv_production(tenant(services=[service(sticky_sender="sometimes")]))
    message = only_problem(problems_of(data), "tenants[0].services[0].sticky_sender")
    assert message == "expected true or false, got 'sometimes' (text)"


def test_the_stack_owns_at_least_one_environment() -> None:
    data = isv_production()
    data["environments"] = []
    assert only_problem(problems_of(data), "environments") == "needs at least 1 item(s)"


# --- tenants and keys -------------------------------------------------------------------------


def test_tenant_key_is_a_lowercase_slug() -> None:
    message = only_problem(problems_of(isv_production(tenant("Acme"))), "tenants[0].key")
    assert "'Acme' is not a lowercase slug" in message


def test_tenant_key_is_at_most_24_characters() -> None:
    long_key = "a" * 25
    message = only_problem(problems_of(isv_production(tenant(long_key))), "tenants[0].key")
    assert "is not a lowercase slug" in message
    assert settings_of(isv_production(tenant("a" * 24))).architecture.tenants[0].key == "a" * 24


def test_the_parent_is_never_a_tenant() -> None:
    message = only_problem(problems_of(isv_production(tenant("parent"))), "tenants[0].key")
    assert "the parent account is never modelled as a tenant" in message


def test_no_keys_on_the_parent() -> None:
    data = isv_production()
    data["api_keys"] = [{"name": "admin", "kind": "standard"}]
    message = only_problem(problems_of(data), "api_keys")
    assert message.startswith("keys on the parent account are not allowed")


def test_tenant_keys_are_unique() -> None:
    data = isv_production(tenant("acme"), tenant("acme"))
    message = only_problem(problems_of(data), "tenants[1].key")
    assert message == "'acme' is already the key of tenants[0]; tenant keys are unique"


def test_display_name_must_not_be_blank() -> None:
    data = isv_production(tenant(display_name="   "))
    assert only_problem(problems_of(data), "tenants[0].display_name") == "must not be empty"


def test_api_key_kind_is_standard_or_restricted() -> None:
    data = isv_production(tenant(api_keys=[{"name": "backend", "kind": "main"}]))
    message = only_problem(problems_of(data), "tenants[0].api_keys[0].kind")
    assert message == "'main' is not one of standard, restricted"


def test_api_key_name_is_a_slug() -> None:
    data = isv_production(tenant(api_keys=[{"name": "Back End", "kind": "standard"}]))
    message = only_problem(problems_of(data), "tenants[0].api_keys[0].name")
    assert "is not a lowercase slug" in message


def test_restricted_key_needs_a_permission() -> None:
    data = isv_production(tenant(api_keys=[{"name": "backend", "kind": "restricted"}]))
    message = only_problem(problems_of(data), "tenants[0].api_keys[0].permissions")
    assert message == "a restricted key needs at least one permission"


def test_restricted_key_has_at_most_100_permissions() -> None:
    permissions = [f"/twilio/product{i}/things/read" for i in range(101)]
    key = {"name": "backend", "kind": "restricted", "permissions": permissions}
    message = only_problem(
        problems_of(isv_production(tenant(api_keys=[key]))), "tenants[0].api_keys[0].permissions"
    )
    assert message == "has 101 permissions; a restricted key allows at most 100"
    key["permissions"] = permissions[:100]
    assert len(settings_of(isv_production(tenant(api_keys=[key]))).architecture.tenants) == 1


def test_permissions_look_like_twilio_permissions() -> None:
    key = {"name": "backend", "kind": "restricted", "permissions": [SEND, "messages:create"]}
    message = only_problem(
        problems_of(isv_production(tenant(api_keys=[key]))),
        "tenants[0].api_keys[0].permissions[1]",
    )
    assert "is not a permission like '/twilio/messaging/messages/create'" in message


def test_permissions_are_listed_once() -> None:
    key = {"name": "backend", "kind": "restricted", "permissions": [SEND, SEND]}
    message = only_problem(
        problems_of(isv_production(tenant(api_keys=[key]))),
        "tenants[0].api_keys[0].permissions[1]",
    )
    assert message == f"'{SEND}' is already listed at permissions[0]"


def test_standard_key_takes_no_permissions() -> None:
    key = {"name": "backend", "kind": "standard", "permissions": [SEND]}
    dev = isv_non_production(
        tenant("shared-dev", "development", api_keys=[key]), tenant("shared-staging", "staging")
    )
    message = only_problem(problems_of(dev), "tenants[0].api_keys[0].permissions")
    assert "a standard key cannot be limited by permissions" in message


def test_api_key_rotation_is_not_negative() -> None:
    key = {"name": "backend", "kind": "standard", "rotation": -1}
    message = only_problem(
        problems_of(isv_production(tenant(api_keys=[key]))), "tenants[0].api_keys[0].rotation"
    )
    assert message == "-1 is below the minimum 0"


def test_api_key_names_are_unique_per_tenant() -> None:
    key = {"name": "backend", "kind": "restricted", "permissions": [SEND]}
    keys = [key, key]
    message = only_problem(
        problems_of(isv_production(tenant(api_keys=keys))), "tenants[0].api_keys[1].name"
    )
    assert "'backend' is already the name of api_keys[0]" in message


# --- services ---------------------------------------------------------------------------------


def test_one_messaging_service_per_use_case_per_tenant() -> None:
    data = isv_production(tenant(services=[service("marketing"), service("marketing")]))
    message = only_problem(problems_of(data), "tenants[0].services[1].use_case")
    assert message == (
        "'marketing' is already the use case of services[0]; at most one messaging service per "
        "use case per tenant"
    )


@pytest.mark.parametrize(
    ("period", "accepted"), [(0, False), (1, True), (36000, True), (36001, False)]
)
def test_validity_period_is_1_to_36000_seconds(period: int, accepted: bool) -> None:
    data = isv_production(tenant(services=[service(validity_period=period)]))
    if accepted:
        planned = settings_of(data).architecture.tenants[0].services[0]
        assert planned.validity_period == period
    else:
        message = only_problem(problems_of(data), "tenants[0].services[0].validity_period")
        assert message in {"0 is below the minimum 1", "36001 is above the maximum 36000"}


def test_scan_message_content_is_inherit_enable_or_disable() -> None:
    data = isv_production(tenant(services=[service(scan_message_content="maybe")]))
    message = only_problem(problems_of(data), "tenants[0].services[0].scan_message_content")
    assert message == "'maybe' is not one of inherit, enable, disable"


def test_webhook_method_is_get_or_post() -> None:
    data = isv_production(
        tenant(
            services=[service(webhooks={"status_callback": "collector", "inbound_method": "PUT"})]
        )
    )
    message = only_problem(problems_of(data), "tenants[0].services[0].webhooks.inbound_method")
    assert message == "'PUT' is not one of GET, POST"


def test_service_defaults_cover_every_setting() -> None:
    poll = {"use_case": "poll", "webhooks": {"status_callback": "collector"}}
    settings = settings_of(isv_production(tenant(services=[poll])))
    defaults = settings.architecture.tenants[0].services[0]
    assert defaults.model_dump(exclude={"webhooks", "senders"}) == {
        "use_case": "poll",
        "friendly_name": None,
        "sticky_sender": True,
        "area_code_geomatch": True,
        "smart_encoding": True,
        "mms_converter": True,
        "fallback_to_long_code": False,
        "scan_message_content": "inherit",
        "validity_period": 36000,
        "synchronous_validation": False,
        "use_inbound_webhook_on_number": False,
    }


# --- webhooks ---------------------------------------------------------------------------------


def test_webhooks_must_be_https() -> None:
    hooks = {"inbound_request_url": "http://api.example.com/in", "status_callback": "collector"}
    data = isv_production(tenant(services=[service(webhooks=hooks)]))
    message = only_problem(problems_of(data), "tenants[0].services[0].webhooks.inbound_request_url")
    assert message.startswith("'http://api.example.com/in' must use https")


def test_status_callback_is_a_url_or_collector() -> None:
    data = isv_production(tenant(services=[service(webhooks={"status_callback": "collectr"})]))
    message = only_problem(problems_of(data), "tenants[0].services[0].webhooks.status_callback")
    assert message == "'collectr' is not an absolute http(s) URL"


def test_webhook_urls_hold_no_credentials() -> None:
    hooks = {"fallback_url": "https://user:pw@api.example.com/fb"}
    data = isv_production(tenant(services=[service(webhooks=hooks)]))
    message = only_problem(problems_of(data), "tenants[0].services[0].webhooks.fallback_url")
    assert "embeds credentials" in message


def test_webhook_hostnames_have_no_underscore() -> None:
    hooks = {"status_callback": "https://my_host.example.com/status"}
    data = isv_production(tenant(services=[service(webhooks=hooks)]))
    message = only_problem(problems_of(data), "tenants[0].services[0].webhooks.status_callback")
    assert "underscore in its hostname" in message


def test_loopback_webhooks_are_refused_in_production() -> None:
    hooks = {"inbound_request_url": "http://127.0.0.1:8000/in", "status_callback": "collector"}
    data = isv_production(tenant(services=[service(webhooks=hooks)]))
    message = only_problem(problems_of(data), "tenants[0].services[0].webhooks.inbound_request_url")
    assert message == (
        "'http://127.0.0.1:8000/in' is a loopback URL; loopback webhooks are allowed only outside "
        "production"
    )


def test_loopback_number_webhooks_are_refused_in_production() -> None:
    senders = {"phone_numbers": {"count": 1, "sms_webhooks": {"sms_url": "http://localhost/sms"}}}
    data = isv_production(tenant(services=[service(senders=senders)]))
    message = only_problem(
        problems_of(data), "tenants[0].services[0].senders.phone_numbers.sms_webhooks.sms_url"
    )
    assert "is a loopback URL" in message


def test_loopback_webhooks_are_allowed_outside_production() -> None:
    hooks = {"inbound_request_url": "http://localhost:8000/in", "status_callback": "collector"}
    data = isv_non_production(
        tenant("shared-dev", "development", services=[service(webhooks=hooks)]),
        tenant("shared-staging", "staging"),
    )
    settings = settings_of(data, collector_url=DEV_COLLECTOR, stack="dev")
    webhooks = settings.architecture.tenants[0].services[0].webhooks
    assert webhooks.inbound_request_url == "http://localhost:8000/in"


def test_collector_needs_a_collector_url() -> None:
    message = only_problem(
        problems_of(isv_production(), collector_url=None),
        "tenants[0].services[0].webhooks.status_callback",
    )
    assert message == (
        "'collector' needs twilio-landing-zone:collectorUrl, which this stack does not set"
    )


def test_a_loopback_collector_is_refused_in_production() -> None:
    message = only_problem(
        problems_of(isv_production(), collector_url=DEV_COLLECTOR),
        "tenants[0].services[0].webhooks.status_callback",
    )
    assert message.startswith(f"'collector' resolves to the loopback URL '{DEV_COLLECTOR}'")


def test_the_collector_url_itself_must_be_https_or_loopback() -> None:
    message = only_problem(
        problems_of(isv_production(), collector_url="http://hooks.example.com/s"),
        "twilio-landing-zone:collectorUrl",
    )
    assert message.startswith("'http://hooks.example.com/s' must use https")


# --- senders ----------------------------------------------------------------------------------


def _with_senders(senders: dict) -> dict:
    return isv_production(tenant(services=[service(senders=senders)]))


NUMBERS = "tenants[0].services[0].senders.phone_numbers"


def test_exact_numbers_are_e164() -> None:
    data = _with_senders({"phone_numbers": {"numbers": ["+14155550100", "4155550101"]}})
    message = only_problem(problems_of(data), f"{NUMBERS}.numbers[1]")
    assert message == "'4155550101' is not an E.164 phone number like '+14155550100'"


def test_an_unquoted_yaml_number_gets_a_quoting_hint() -> None:
    data = _with_senders({"phone_numbers": {"numbers": [14155550100]}})
    message = only_problem(problems_of(data), f"{NUMBERS}.numbers[0]")
    assert (
        message == "expected text, got the number 14155550100; quote phone numbers: '+14155550100'"
    )


def test_numbers_are_an_exact_list_or_a_search_not_both() -> None:
    data = _with_senders({"phone_numbers": {"numbers": ["+14155550100"], "count": 1}})
    message = only_problem(problems_of(data), f"{NUMBERS}.count")
    assert message == "give either numbers (an exact list) or count (a search), not both"


def test_numbers_need_an_exact_list_or_a_search() -> None:
    data = _with_senders({"phone_numbers": {"country": "US"}})
    message = only_problem(problems_of(data), NUMBERS)
    assert message == "give either numbers (an exact E.164 list) or count (a search)"


def test_search_filters_need_a_search() -> None:
    data = _with_senders({"phone_numbers": {"numbers": ["+14155550100"], "area_code": "415"}})
    message = only_problem(problems_of(data), f"{NUMBERS}.area_code")
    assert message == "area_code is a search filter; it needs count, not an exact numbers list"


def test_search_count_is_1_to_400() -> None:
    data = _with_senders({"phone_numbers": {"count": 0}})
    assert only_problem(problems_of(data), f"{NUMBERS}.count") == "0 is below the minimum 1"


def test_country_is_an_iso_code() -> None:
    data = _with_senders({"phone_numbers": {"count": 1, "country": "usa"}})
    message = only_problem(problems_of(data), f"{NUMBERS}.country")
    assert message == "'usa' is not a two-letter upper-case ISO country code"


def test_a_yaml_boolean_country_gets_a_quoting_hint() -> None:
    # YAML 1.1 reads an unquoted NO (Norway) as false.
    data = _with_senders({"phone_numbers": {"count": 1, "country": False}})
    message = only_problem(problems_of(data), f"{NUMBERS}.country")
    assert message.startswith("expected text, got false (a boolean); YAML reads unquoted")


def test_area_code_is_three_digits() -> None:
    data = _with_senders({"phone_numbers": {"count": 1, "area_code": "41"}})
    message = only_problem(problems_of(data), f"{NUMBERS}.area_code")
    assert message == "'41' is not a three-digit area code like '415'"


def test_an_unquoted_area_code_is_read_as_text() -> None:
    settings = settings_of(_with_senders({"phone_numbers": {"count": 1, "area_code": 415}}))
    numbers = settings.architecture.tenants[0].services[0].senders.phone_numbers
    assert numbers is not None
    assert numbers.area_code == "415"


def test_area_code_searches_exist_only_in_north_america() -> None:
    data = _with_senders({"phone_numbers": {"count": 1, "country": "GB", "area_code": "415"}})
    message = only_problem(problems_of(data), f"{NUMBERS}.area_code")
    assert message == "area_code searches exist only for US and CA numbers, not GB"


def test_contains_is_a_number_pattern() -> None:
    data = _with_senders({"phone_numbers": {"count": 1, "contains": "5"}})
    message = only_problem(problems_of(data), f"{NUMBERS}.contains")
    assert "is not a number pattern" in message


def test_exact_numbers_are_listed_once() -> None:
    data = _with_senders({"phone_numbers": {"numbers": ["+14155550100", "+14155550100"]}})
    message = only_problem(problems_of(data), f"{NUMBERS}.numbers[1]")
    assert message == "'+14155550100' is already listed at numbers[0]"


def test_short_codes_are_sids() -> None:
    data = _with_senders({"short_codes": ["12345"]})
    message = only_problem(problems_of(data), "tenants[0].services[0].senders.short_codes[0]")
    assert message == "'12345' is not a short code SID ('SC' and 32 hex characters)"


@pytest.mark.parametrize("alpha", ["12345", "TooLongForIt", "Acme!", ""])
def test_alpha_sender_ids_follow_twilio_rules(alpha: str) -> None:
    data = _with_senders({"alpha_senders": [alpha]})
    message = only_problem(problems_of(data), "tenants[0].services[0].senders.alpha_senders[0]")
    assert "is not an alphanumeric sender ID" in message


def test_valid_alpha_sender_ids_are_accepted() -> None:
    alphas = ["Acme", "ACME-Care", "A+B & C_1", "X1"]
    settings = settings_of(_with_senders({"alpha_senders": alphas}))
    assert settings.architecture.tenants[0].services[0].senders.alpha_senders == tuple(alphas)


def test_senders_are_listed_once() -> None:
    data = _with_senders({"alpha_senders": ["Acme", "Acme"]})
    message = only_problem(problems_of(data), "tenants[0].services[0].senders.alpha_senders[1]")
    assert message == "'Acme' is already listed at alpha_senders[0]"


def test_at_most_400_senders_per_service() -> None:
    data = _with_senders({"phone_numbers": {"count": 399}, "alpha_senders": ["Acme", "Acme2"]})
    message = only_problem(problems_of(data), "tenants[0].services[0].senders")
    assert message == "401 senders; a messaging service holds at most 400"


def test_a_number_belongs_to_at_most_one_service_of_the_stack() -> None:
    exact = {"phone_numbers": {"numbers": ["+14155550100"]}}
    data = isv_production(
        tenant("acme", services=[service(senders=exact)]),
        tenant("globex", services=[service("marketing", senders=exact)]),
    )
    message = only_problem(
        problems_of(data), "tenants[1].services[0].senders.phone_numbers.numbers[0]"
    )
    assert message == (
        "'+14155550100' is already a sender of tenants[0].services[0]; a number or short code "
        "belongs to at most one messaging service"
    )


def test_a_short_code_belongs_to_at_most_one_service() -> None:
    sid = "SC" + "0" * 32
    data = isv_production(
        tenant(
            services=[
                service(senders={"short_codes": [sid]}),
                service("poll", senders={"short_codes": [sid]}),
            ]
        )
    )
    message = only_problem(problems_of(data), "tenants[0].services[1].senders.short_codes[0]")
    assert message.startswith(f"'{sid}' is already a sender of tenants[0].services[0]")


# --- environments and tenancy -----------------------------------------------------------------


def test_tenant_environment_is_owned_by_the_stack() -> None:
    data = isv_production(tenant("acme"), tenant("shared-staging", "staging"))
    message = only_problem(problems_of(data), "tenants[1].environment")
    assert message == "'staging' is not an environment this stack owns (production)"


def test_every_owned_environment_has_a_tenant() -> None:
    data = isv_non_production(tenant("shared-dev", "development"))
    message = only_problem(problems_of(data, collector_url=DEV_COLLECTOR), "environments[1]")
    assert message == (
        "'staging' has no tenant; every environment the stack owns needs at least one subaccount"
    )


def test_environments_are_listed_once() -> None:
    data = isv_production()
    data["environments"] = ["production", "production"]
    message = only_problem(problems_of(data), "environments[1]")
    assert message == "'production' is already listed at environments[0]"


def test_isv_production_tenants_are_customers() -> None:
    data = isv_production(tenant(role="shared"))
    message = only_problem(problems_of(data), "tenants[0].role")
    assert message == (
        "'shared' in production; an ISV's production tenants are customers (one subaccount per "
        "customer)"
    )


def test_isv_non_production_environments_share_one_subaccount() -> None:
    data = isv_non_production(
        tenant("shared-dev", "development"),
        tenant("shared-staging", "staging"),
        tenant("acme-staging", "staging"),
    )
    message = only_problem(problems_of(data, collector_url=DEV_COLLECTOR), "tenants[2].environment")
    assert message == (
        "'staging' already has its shared subaccount tenants[1]; an ISV's non-production "
        "environments have one shared subaccount each"
    )


def test_isv_non_production_tenants_are_shared() -> None:
    data = isv_non_production(
        tenant("shared-dev", "development", role="customer"), tenant("shared-staging", "staging")
    )
    message = only_problem(problems_of(data, collector_url=DEV_COLLECTOR), "tenants[0].role")
    assert message.startswith("'customer' in development; an ISV's non-production environments")


def test_direct_tenants_are_business_units() -> None:
    data = {
        "style": "direct",
        "environments": ["production"],
        "tenants": [tenant("payments"), tenant("support", role="customer")],
    }
    message = only_problem(problems_of(data), "tenants[1].role")
    assert message.startswith("'customer' in a direct-style stack")


def test_derived_resource_names_are_unique() -> None:
    # 'a' with key 'key-b' and tenant 'a-key' with key 'b'... both derive 'a-key-key-b'; here the
    # account of tenant 'a-key-b' collides with key 'b' of tenant 'a'.
    data = isv_production(
        tenant("a", api_keys=[{"name": "b", "kind": "restricted", "permissions": [SEND]}]),
        tenant("a-key-b"),
    )
    message = only_problem(problems_of(data), "tenants[1].key")
    assert message == (
        "'a-key-b' derives the resource name 'a-key-b', which tenant 'a' derives too; choose "
        "another key"
    )


# --- reporting --------------------------------------------------------------------------------


def test_all_shape_problems_are_reported_at_once() -> None:
    data = isv_production(
        tenant("Acme", services=[service("promo")]),
        tenant("globex", api_keys=[{"name": "backend", "kind": "main"}]),
    )
    data["stlye"] = "isv"
    assert problems_of(data) == (
        "tenants[0].key: 'Acme' is not a lowercase slug: a letter, then up to 23 lowercase "
        "letters, digits or '-'",
        "tenants[0].services[0].use_case: 'promo' is not one of notifications, marketing, "
        "verification, discussion, poll, undeclared",
        "tenants[1].api_keys[0].kind: 'main' is not one of standard, restricted",
        "stlye: unknown field 'stlye'; did you mean 'style'?",
    )


def test_all_rule_violations_across_the_tree_are_reported_at_once() -> None:
    data = isv_production(
        tenant("acme", services=[service(), service()]),
        tenant("acme", api_keys=[{"name": "backend", "kind": "restricted"}]),
        tenant("shared", "staging"),
    )
    problems = problems_of(data, collector_url=None)
    paths = [problem.split(": ", 1)[0] for problem in problems]
    assert sorted(paths) == sorted(
        [
            "tenants[0].services[1].use_case",  # tenant rule
            "tenants[1].api_keys[0].permissions",  # key rule
            "tenants[1].key",  # architecture rule
            "tenants[2].environment",  # architecture rule
            "tenants[0].services[0].webhooks.status_callback",  # stack settings rule
            "tenants[0].services[1].webhooks.status_callback",
            "tenants[1].services[0].webhooks.status_callback",
            "tenants[2].services[0].webhooks.status_callback",
        ]
    )


def test_a_model_checked_alone_raises_its_rule_by_name() -> None:
    with pytest.raises(ValidationError) as caught:
        Tenant.model_validate(tenant(services=[service(), service()]))
    [error] = caught.value.errors()
    assert error["type"] == "one_service_per_use_case"
    assert error["loc"] == ("services", 1, "use_case")


def test_validate_tree_reports_the_rules_of_every_level_together() -> None:
    data = service(senders={"alpha_senders": ["Acme", "Acme"], "phone_numbers": {"country": "US"}})
    with pytest.raises(ValidationError) as model_by_model:
        MessagingService.model_validate(data)
    # Checked model by model, the broken phone numbers hide the rules of the senders around them.
    assert [(e["type"], e["loc"]) for e in model_by_model.value.errors()] == [
        ("exact_list_or_search", ("senders", "phone_numbers")),
    ]
    with pytest.raises(ValidationError) as whole_tree:
        validate_tree(MessagingService, data)
    assert [(e["type"], e["loc"]) for e in whole_tree.value.errors()] == [
        ("exact_list_or_search", ("senders", "phone_numbers")),
        ("senders_listed_once", ("senders", "alpha_senders", 1)),
    ]


def test_architecture_role_defaults_follow_the_style() -> None:
    prod = Architecture.model_validate(isv_production())
    dev = Architecture.model_validate(isv_non_production())
    direct = Architecture.model_validate({**isv_production(), "style": "direct"})
    assert prod.role_of(prod.tenants[0]) == "customer"
    assert dev.role_of(dev.tenants[0]) == "shared"
    assert direct.role_of(direct.tenants[0]) == "business_unit"


def test_violation_is_a_plain_value() -> None:
    violation = Violation(("a", 1), "message")
    assert dataclasses.replace(violation, loc=("b",)) == Violation(("b",), "message")
