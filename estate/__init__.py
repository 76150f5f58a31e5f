"""Reading an existing Twilio account: `python -m estate audit` (part 1; discover and adopt
build on it).

Where it sits: beside `collector/`. It talks to Twilio only through `providers.client`,
`providers.credentials` and `providers.transport` (the one place that builds clients), and
judges what it read with the policy pack's own rule code (`twilio_guardrails`), so the audit
and `pulumi preview --policy-pack` can never disagree. It never imports `components/`,
`architecture/` or the Pulumi SDK, and it never writes to Twilio.
"""
