from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy


def no_shouting(args, report_violation) -> None:
    if args.resource_type == "pulumi-python:dynamic/plumbing:Greeting":
        message = args.props["message"]
        if message.isupper():
            report_violation(f"Greeting '{args.name}' shouts: write '{message.lower()}' instead.")


PolicyPack(
    name="plumbing",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        ResourceValidationPolicy(
            name="no-shouting", description="Greetings are not all caps.", validate=no_shouting
        )
    ],
)
