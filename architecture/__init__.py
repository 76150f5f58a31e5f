"""The declared estate of a stack: validated models and the pure planner (no Pulumi, no Twilio)."""

from architecture.errors import ArchitectureError
from architecture.loading import (
    PROJECT,
    load_architecture,
    load_config_values,
    load_stack_config,
    read_stack_file,
    read_stack_yaml,
)
from architecture.model import Architecture, StackSettings, Tenant
from architecture.planner import (
    NumberSearch,
    Plan,
    PlanCounts,
    PlannedAccount,
    PlannedApiKey,
    PlannedNumber,
    PlannedSenderPool,
    PlannedService,
    build_plan,
)
from architecture.tenant_parts import (
    ApiKey,
    MessagingService,
    NumberSmsWebhooks,
    PhoneNumbers,
    Senders,
    ServiceWebhooks,
)
from identity_tags import (
    FRIENDLY_NAME_LIMIT,
    friendly_name,
    identity_tag,
    parse_tag,
    render_tag,
)

__all__ = [
    "FRIENDLY_NAME_LIMIT",
    "PROJECT",
    "ApiKey",
    "Architecture",
    "ArchitectureError",
    "MessagingService",
    "NumberSearch",
    "NumberSmsWebhooks",
    "PhoneNumbers",
    "Plan",
    "PlanCounts",
    "PlannedAccount",
    "PlannedApiKey",
    "PlannedNumber",
    "PlannedSenderPool",
    "PlannedService",
    "Senders",
    "ServiceWebhooks",
    "StackSettings",
    "Tenant",
    "build_plan",
    "friendly_name",
    "identity_tag",
    "load_architecture",
    "load_config_values",
    "load_stack_config",
    "parse_tag",
    "read_stack_file",
    "read_stack_yaml",
    "render_tag",
]
