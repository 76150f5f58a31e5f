"""The policy pack: assembled here and nothing else, because PolicyPack() serves gRPC and blocks
forever. The rules live in the importable `twilio_guardrails` package (tested without the
engine)."""

from pulumi_policy import EnforcementLevel, PolicyPack

from twilio_guardrails import PACK_NAME, POLICIES

PolicyPack(
    name=PACK_NAME,
    policies=POLICIES,
    # Unconfigured runs are strict; policies/config/dev.json relaxes what dev may relax.
    enforcement_level=EnforcementLevel.MANDATORY,
    description="Twilio messaging guardrails for twilio-landing-zone estates.",
)
