"""Reading an existing Twilio account: `python -m estate audit` (part 1; discover and adopt
build on it).

Where it sits: beside `collector/`. It talks to Twilio only through `twilio_access.client`,
`twilio_access.credentials` and `twilio_access.transport` (the one place that builds clients), and
judges what it read with the policy pack's own rule code (`twilio_guardrails`), so the audit
and `pulumi preview --policy-pack` can never disagree. It never imports `components/`,
`architecture/` or the Pulumi SDK, and it never writes to Twilio.
"""

import sys
from pathlib import Path

# The policy pack is a directory that `pulumi policy` runs with itself on sys.path (it imports
# nothing of ours, and is no package of ours); the audit imports its rules the same way.
POLICY_PACK_DIR = Path(__file__).resolve().parents[1] / "policies"
if str(POLICY_PACK_DIR) not in sys.path:
    sys.path.append(str(POLICY_PACK_DIR))
