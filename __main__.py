"""twilio-landing-zone: the estate declared in Pulumi.<stack>.yaml, made real in Twilio."""

import pulumi

from architecture import build_plan
from components import sdk_overhead, sdk_registration
from components.landing_zone import LandingZone, LandingZoneArgs
from components.stack_settings import (
    announce_credentials,
    load_settings,
    refuse_real_credentials_behind_the_local_passphrase,
)
from components.state_identity import current_state_mark

sdk_overhead.install()
sdk_registration.install()
refuse_real_credentials_behind_the_local_passphrase()
announce_credentials()
plan = build_plan(load_settings())
state_mark = current_state_mark(pulumi.get_organization(), plan.project, plan.stack)
landing_zone = LandingZone("landing-zone", LandingZoneArgs(plan=plan, state_mark=state_mark))

pulumi.export("tenants", landing_zone.summary())
pulumi.export("names", landing_zone.name_map())  # SID -> declared names, for the collector
pulumi.export("api_key_secrets", landing_zone.api_key_secrets())
