"""Stack outputs built from many resource outputs in one step.

`Output.all` unwraps every input deeply: an input that is itself an `Output.all` of dicts is
walked again at each level of nesting, each value becoming an output of its own with its task.
For the `tenants`, `names` and `api_key_secrets` exports of a 100-customer group that was
0.7-2 of the program's 6 CPU seconds in a no-change preview (the program with and without
its exports, alternated; bench/program_profile.py shows where). Here the SIDs
are gathered once, flat, and the nested value is built by one plain function: the same
value, known and secret exactly when the nested outputs were (an unknown SID leaves the whole
export unknown either way), depending on the same resources.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pulumi

T = TypeVar("T")


def gathered(
    outputs: Sequence[pulumi.Output[Any]], build: Callable[[list[Any]], T]
) -> pulumi.Output[T]:
    """`build` applied to the resolved values of `outputs`, in order."""
    return pulumi.Output.all(*outputs).apply(build)


def all_named(values: dict[str, Any]) -> dict[str, Any] | list[Any]:
    """What `Output.all(**values)` resolves to: the dict, and for no values an empty list (the
    SDK makes a list when it is given no named inputs), so the exports stay as they were."""
    return values if values else []
