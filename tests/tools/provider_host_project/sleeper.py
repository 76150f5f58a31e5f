"""A throwaway dynamic resource whose create takes one second: it records when it ran, so a
test can tell how many creates the provider host served at once."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from pulumi.dynamic import CreateResult, Resource, ResourceProvider

CREATE_SECONDS = 1.0


class SleeperProvider(ResourceProvider):
    def create(self, props) -> CreateResult:
        started = time.time()
        time.sleep(CREATE_SECONDS)
        record = {"start": started, "end": time.time(), "pid": os.getpid()}
        sleeper_id = uuid.uuid4().hex
        Path(props["store"], f"{sleeper_id}.json").write_text(json.dumps(record))
        return CreateResult(sleeper_id, {"store": props["store"]})


class Sleeper(Resource, module="test", name="Sleeper"):
    def __init__(self, name: str, store: str) -> None:
        super().__init__(SleeperProvider(), name, {"store": store})
