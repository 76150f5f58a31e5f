"""Pulumi components of the landing zone: the estate, a tenant, a use case's messaging."""
