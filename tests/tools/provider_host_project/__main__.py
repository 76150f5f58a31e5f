"""16 independent one-second creates in one stack."""

import pulumi
from sleeper import Sleeper

store = pulumi.Config().require("store")
for index in range(16):
    Sleeper(f"sleeper-{index:02d}", store)
