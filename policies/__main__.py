"""The policy pack: assembled here and nothing else, because PolicyPack() serves gRPC and blocks
forever. The rules live in the importable `twilio_guardrails` package (tested without the
engine); `hold_config` makes the pack refuse a config that would weaken it (guard.py)."""

from pulumi_policy import EnforcementLevel, PolicyPack

from twilio_guardrails import PACK_NAME, POLICIES
from twilio_guardrails.config_file import pack_rules
from twilio_guardrails.guard import hold_config

hold_config(pack_rules())
PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    # Unconfigured runs are strict; policies/config/dev.json relaxes what dev may relax.
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Twilio messaging guardrails for twilio-landing-zone estates.",
)
