"""Fixed data of US A2P 10DLC registration: Trust Hub policies, item types, use cases, reasons.

Policy SIDs are Twilio's own constants, the same in every account (Twilio's ISV onboarding
guides tell you to pass them unchanged): the Secondary Customer Profile and the A2P Messaging
Profile for standard brands, the Starter Customer Profile and the Sole Proprietor trust product
for sole proprietors (both in the Trust Hub spec's examples). The Primary Customer Profile is
made in the Console in real Twilio; its policy SID here is the one public integrations map to
"primary business profile", and the admin API seeds an approved one (`/_emulator/a2p/...`).

Required fields per item type follow Twilio's onboarding guides: a field listed by a policy but
not required here (e.g. `social_media_profile_urls`) may be left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PRIMARY_PROFILE_POLICY = "RN6433641899984f951173ef1738c3bdd0"
SECONDARY_PROFILE_POLICY = "RNdfbf3fae0e1107f8aded0e7cead80bf5"
A2P_MESSAGING_PROFILE_POLICY = "RNb0d4771c2c98518d916a3d4cd70a8f8b"
STARTER_PROFILE_POLICY = "RN806dd6cd175f314e1f96a9727ee271f4"
SOLE_PROPRIETOR_TRUST_POLICY = "RN670d5d2e282a6130ae063b234b6019c8"

CUSTOMER_PROFILE = "customer_profile"  # store kinds of the two bundle families
TRUST_PRODUCT = "trust_product"


@dataclass(frozen=True)
class ItemType:
    """An End-User or Supporting Document type: its fields and which of them must be set."""

    name: str
    friendly_name: str
    fields: tuple[str, ...]
    required: tuple[str, ...]


_BUSINESS_FIELDS = (
    "business_type",
    "business_registration_number",
    "business_name",
    "business_registration_identifier",
    "business_identity",
    "business_industry",
    "website_url",
    "business_regions_of_operation",
    "social_media_profile_urls",
)
_REPRESENTATIVE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone_number",
    "business_title",
    "job_position",
)

END_USER_TYPES: dict[str, ItemType] = {
    t.name: t
    for t in (
        ItemType(
            "customer_profile_business_information",
            "Business Information",
            _BUSINESS_FIELDS,
            tuple(f for f in _BUSINESS_FIELDS if f != "social_media_profile_urls"),
        ),
        ItemType(
            "authorized_representative_1",
            "Authorized Representative 1",
            _REPRESENTATIVE_FIELDS,
            _REPRESENTATIVE_FIELDS,
        ),
        ItemType(
            "authorized_representative_2",
            "Authorized Representative 2",
            _REPRESENTATIVE_FIELDS,
            _REPRESENTATIVE_FIELDS,
        ),
        ItemType(
            "us_a2p_messaging_profile_information",
            "US A2P Messaging Profile Information",
            ("company_type", "stock_exchange", "stock_ticker", "brand_contact_email"),
            ("company_type",),
        ),
        ItemType(
            "starter_customer_profile_information",
            "Information",
            ("first_name", "last_name", "email", "phone_number"),
            ("first_name", "last_name", "email", "phone_number"),
        ),
        ItemType(
            "sole_proprietor_information",
            "Sole Proprietor Information",
            ("brand_name", "mobile_phone_number", "vertical"),
            ("brand_name", "mobile_phone_number", "vertical"),
        ),
        # Regulatory-compliance end users (number bundles): accepted, never required here.
        ItemType("individual", "Individual", ("first_name", "last_name"), ()),
        ItemType("business", "Business", ("business_name",), ()),
    )
}

SUPPORTING_DOCUMENT_TYPES: dict[str, ItemType] = {
    t.name: t
    for t in (
        ItemType(
            "customer_profile_address",
            "Physical Business Address",
            ("address_sids",),
            ("address_sids",),
        ),
        ItemType(
            "starter_customer_profile_address",
            "Legal Company Address",
            ("address_sids",),
            ("address_sids",),
        ),
    )
}

# us_a2p_messaging_profile_information: a public company must name its exchange and ticker.
PUBLIC_COMPANY_FIELDS = ("stock_exchange", "stock_ticker")
COMPANY_TYPES = ("public", "private", "non-profit", "government")


@dataclass(frozen=True)
class ProfileRequirement:
    """A supporting customer profile or trust product a bundle must carry."""

    requirement_name: str
    name: str
    type: str
    policies: tuple[str, ...]  # policy SIDs of bundles that satisfy it
    must_be_approved: bool


@dataclass(frozen=True)
class Policy:
    sid: str
    friendly_name: str
    bundle_kind: str  # CUSTOMER_PROFILE or TRUST_PRODUCT
    end_users: tuple[str, ...]  # required End-User types
    optional_end_users: tuple[str, ...] = ()
    documents: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (requirement, name, types)
    profiles: tuple[ProfileRequirement, ...] = field(default=())

    def requirements(self) -> dict[str, Any]:
        """The `requirements` object of the Policies resource."""
        end_users = [
            {
                "url": f"/EndUserTypes/{name}",
                "fields": list(END_USER_TYPES[name].fields),
                "type": name,
                "name": END_USER_TYPES[name].friendly_name,
                "requirement_name": name,
            }
            for name in (*self.end_users, *self.optional_end_users)
        ]
        documents = [
            [
                {
                    "description": name,
                    "type": "document",
                    "name": name,
                    "accepted_documents": [
                        {
                            "url": f"/SupportingDocumentTypes/{t}",
                            "fields": list(SUPPORTING_DOCUMENT_TYPES[t].fields),
                            "type": t,
                            "name": SUPPORTING_DOCUMENT_TYPES[t].friendly_name,
                        }
                        for t in types
                    ],
                    "requirement_name": requirement,
                }
                for requirement, name, types in self.documents
            ]
        ]
        profiles = [
            {"type": p.type, "name": p.name, "requirement_name": p.requirement_name}
            for p in self.profiles
        ]
        return {
            "end_user": end_users,
            "supporting_trust_products": [],
            "supporting_document": documents,
            "supporting_customer_profiles": profiles,
        }


_ADDRESS = (
    ("customer_profile_address", "Physical Business Address", ("customer_profile_address",)),
)

POLICIES: dict[str, Policy] = {
    p.sid: p
    for p in (
        Policy(
            PRIMARY_PROFILE_POLICY,
            "Primary Customer Profile of type Business",
            CUSTOMER_PROFILE,
            ("customer_profile_business_information", "authorized_representative_1"),
            ("authorized_representative_2",),
            _ADDRESS,
        ),
        Policy(
            SECONDARY_PROFILE_POLICY,
            "Secondary Customer Profile of type Business",
            CUSTOMER_PROFILE,
            ("customer_profile_business_information", "authorized_representative_1"),
            ("authorized_representative_2",),
            _ADDRESS,
            (
                ProfileRequirement(
                    "primary_customer_profile",
                    "Primary Customer Profile Bundle",
                    "primary_customer_profile_type_business",
                    (PRIMARY_PROFILE_POLICY,),
                    must_be_approved=True,
                ),
            ),
        ),
        Policy(
            A2P_MESSAGING_PROFILE_POLICY,
            "A2P Messaging Profile",
            TRUST_PRODUCT,
            ("us_a2p_messaging_profile_information",),
            (),
            (),
            (
                ProfileRequirement(
                    "customer_profile",
                    "Customer Profile Bundle",
                    "secondary_customer_profile_type_business",
                    (SECONDARY_PROFILE_POLICY, PRIMARY_PROFILE_POLICY),
                    must_be_approved=False,
                ),
            ),
        ),
        Policy(
            STARTER_PROFILE_POLICY,
            "Starter Customer Profile of type Business",
            CUSTOMER_PROFILE,
            ("starter_customer_profile_information",),
            (),
            (
                (
                    "customer_profile_address",
                    "Customer Profile Address",
                    ("customer_profile_address", "starter_customer_profile_address"),
                ),
            ),
            (
                ProfileRequirement(
                    "primary_customer_profile",
                    "Primary Customer Profile Bundle",
                    "primary_customer_profile_type_business",
                    (PRIMARY_PROFILE_POLICY,),
                    must_be_approved=True,
                ),
            ),
        ),
        Policy(
            SOLE_PROPRIETOR_TRUST_POLICY,
            "Sole Proprietor TrustProduct",
            TRUST_PRODUCT,
            ("sole_proprietor_information",),
            (),
            (),
            (
                ProfileRequirement(
                    "customer_profile",
                    "Starter Customer Profile Proof",
                    "starter_customer_profile_type_business",
                    (STARTER_PROFILE_POLICY,),
                    must_be_approved=False,
                ),
            ),
        ),
    )
}

# Which bundle pairs make which brand type: (customer profile policies, trust product policy).
BRAND_BUNDLES: dict[str, tuple[tuple[str, ...], str]] = {
    "STANDARD": ((SECONDARY_PROFILE_POLICY, PRIMARY_PROFILE_POLICY), A2P_MESSAGING_PROFILE_POLICY),
    "SOLE_PROPRIETOR": ((STARTER_PROFILE_POLICY,), SOLE_PROPRIETOR_TRUST_POLICY),
}

# --- campaign use cases (the messaging spec's Usecases example, Twilio's own list) -------------

# fmt: off
_USECASE_ROWS: tuple[tuple[str, str, str, bool], ...] = (
    ("2FA", "Two-Factor authentication (2FA)", "Two-Factor authentication, one-time use password, password reset", False),  # noqa: E501
    ("ACCOUNT_NOTIFICATION", "Account Notification", "All reminders, alerts, and notifications. (Examples include: flight delayed, hotel booked, appointment reminders.)", False),  # noqa: E501
    ("AGENTS_FRANCHISES", "Agents and Franchises", "For brands that have multiple agents, franchises or offices in the same brand vertical, but require individual localised numbers per agent/location/office.", True),  # noqa: E501
    ("CHARITY", "Charity", "Includes:  5013C Charity\nDoes not include: Religious organizations", False),  # noqa: E501
    ("PROXY", "Proxy", "Peer-to-peer app-based group messaging with proxy/pooled numbers (For example: GroupMe)\nSupporting personalized services and non-exposure of personal numbers for enterprise or A2P communications. (Examples include: Uber and AirBnb.)", True),  # noqa: E501
    ("CUSTOMER_CARE", "Customer Care", "All customer care messaging, including account management and support", False),  # noqa: E501
    ("DELIVERY_NOTIFICATION", "Delivery Notification", "Information about the status of the delivery of a product or service", False),  # noqa: E501
    ("EMERGENCY", "Emergency", "Notification services designed to support public safety / health during natural disasters, armed conflicts, pandemics and other national or regional emergencies", True),  # noqa: E501
    ("FRAUD_ALERT", "Fraud Alert Messaging", "Fraud alert notification", False),
    ("HIGHER_EDUCATION", "Higher Education", 'For campaigns created on behalf of Colleges or Universities and will also include School Districts etc that fall outside of any "free to the consumer" messaging model', False),  # noqa: E501
    ("K12_EDUCATION", "K-12 Education", "Campaigns created for messaging platforms that support schools from grades K-12 and distance learning centers. This is not for Post-Secondary schools.", True),  # noqa: E501
    ("LOW_VOLUME", "Low Volume Mixed", "Low throughput, any combination of use-cases. Examples include:  test, demo accounts", False),  # noqa: E501
    ("MARKETING", "Marketing", "Any communication with marketing and/or promotional content", False),  # noqa: E501
    ("MIXED", "Mixed", "Mixed messaging reserved for specific consumer service industry", False),
    ("POLITICAL", "Political", "Part of organized effort to influence decision making of specific group. All campaigns to be verified", False),  # noqa: E501
    ("POLLING_VOTING", "Polling and voting", "Polling and voting", False),
    ("PUBLIC_SERVICE_ANNOUNCEMENT", "Public Service Announcement", "An informational message that is meant to raise the audience awareness about an important issue", False),  # noqa: E501
    ("SECURITY_ALERT", "Security Alert", "A notification that the security of a system, either software or hardware, has been compromised in some way and there is an action you need to take", False),  # noqa: E501
    ("SOCIAL", "Social", "Communication within or between closed communities (For example: influencers alerts)", True),  # noqa: E501
    ("SWEEPSTAKE", "Sweepstake", "Sweepstake", True),
)
# fmt: on
SOLE_PROPRIETOR_USECASE = (
    "SOLE_PROPRIETOR",
    "Sole Proprietor",
    "Limited to Sole Proprietor brands: one campaign, one number",
    False,
)


def usecases_for(brand_type: str | None) -> list[dict[str, Any]]:
    rows = (SOLE_PROPRIETOR_USECASE,) if brand_type == "SOLE_PROPRIETOR" else _USECASE_ROWS
    return [
        {"code": code, "name": name, "description": description, "post_approval_required": post}
        for code, name, description, post in rows
    ]


# --- failure reasons the admin API can reject with ---------------------------------------------
# (code, description, fields). Sources: 21736 and 30797 Twilio's brand Event Streams schema
# examples, 30701 Twilio's error page, 30909 a published table of campaign rejection codes,
# 18601 the Trust Hub spec's example (`errors: [{"code": 18601}]`); 30886 (campaign
# description) is not confirmed.

FAILURE_REASONS: dict[str, dict[int, tuple[str, tuple[str, ...]]]] = {
    "bundle": {
        18601: ("The bundle was rejected in Twilio's review of its information.", ()),
    },
    "brand": {
        21736: ("The Brand contact email is invalid.", ("brand_contact_email",)),
        30797: (
            "Brand Registration Feedback: The company's submission as a Government Entity type"
            " could not be confirmed from independent sources",
            ("entity_type",),
        ),
        30701: (
            "Brand Registration Failure: Invalid input parameters",
            ("business_registration_number",),
        ),
    },
    "campaign": {
        30909: (
            "The Call-to-Action / Message Flow cannot be verified by reviewers.",
            ("MESSAGE_FLOW",),
        ),
        30886: ("The campaign description is invalid or not detailed enough.", ("DESCRIPTION",)),
    },
}
