"""v2010 Addresses through the official client: create, read, filter, page, update, delete."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.emulator.conftest import Tenant

ADDRESS = {
    "customer_name": "Bayside Dental LLC",
    "street": "1 Harbor Way",
    "city": "San Francisco",
    "region": "CA",
    "postal_code": "94105",
    "iso_country": "US",
}


def test_address_lifecycle(tenant: Tenant) -> None:
    addresses = tenant.client.addresses
    created = addresses.create(**ADDRESS, friendly_name="HQ", street_secondary="Suite 4")
    assert created.sid.startswith("AD") and created.account_sid == tenant.sid
    assert (created.friendly_name, created.street_secondary) == ("HQ", "Suite 4")
    assert created.emergency_enabled is False and created.validated is False
    assert created.uri == f"/2010-04-01/Accounts/{tenant.sid}/Addresses/{created.sid}.json"
    updated = addresses(created.sid).update(city="Oakland", emergency_enabled=True)
    assert (updated.city, updated.emergency_enabled, updated.street) == (
        "Oakland",
        True,
        "1 Harbor Way",
    )
    assert addresses(created.sid).fetch().city == "Oakland"
    assert addresses(created.sid).delete() is True
    with pytest.raises(TwilioRestException) as error:
        addresses(created.sid).fetch()
    assert error.value.status == 404


def test_list_filters_and_pages(tenant: Tenant, parent: Client) -> None:
    addresses = tenant.client.addresses
    made = [addresses.create(**{**ADDRESS, "customer_name": f"Customer {i}"}).sid for i in range(3)]
    addresses.create(**{**ADDRESS, "iso_country": "CA", "region": "ON", "city": "Toronto"})
    assert [a.sid for a in addresses.list(iso_country="US", page_size=2)] == made
    assert [a.sid for a in addresses.list(customer_name="Customer 1")] == [made[1]]
    # The parent reaches its subaccount's addresses through the subaccount's path.
    via_parent = parent.api.v2010.accounts(tenant.sid).addresses.list()
    assert len(via_parent) == 4
    assert parent.addresses.list(customer_name="Customer 1") == []


@pytest.mark.parametrize("missing", ["customer_name", "street", "city", "region", "postal_code"])
def test_create_needs_every_required_field(tenant: Tenant, missing: str) -> None:
    with pytest.raises(TwilioRestException) as error:
        tenant.client.addresses.create(**{**ADDRESS, missing: ""})
    assert error.value.status == 400


def test_bad_country_is_refused(tenant: Tenant) -> None:
    with pytest.raises(TwilioRestException) as error:
        tenant.client.addresses.create(**{**ADDRESS, "iso_country": "USA"})
    assert error.value.status == 400 and "IsoCountry" in error.value.msg
