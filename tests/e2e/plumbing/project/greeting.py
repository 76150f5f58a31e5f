"""A throwaway dynamic resource that proves the engine plumbing: a "greeting" kept as a JSON
file in a directory that stands in for a remote API."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)


class GreetingProvider(ResourceProvider):
    def configure(self, req) -> None:
        # Read in configure, never captured at construction: the token must not be pickled.
        self._token = req.config.get("token")

    def _fingerprint(self) -> str:
        return hashlib.sha256(self._token.encode()).hexdigest()[:12]

    def _outputs(self, props: dict) -> dict:
        return {
            "message": props["message"],
            "store": props["store"],
            "token_fingerprint": self._fingerprint(),
        }

    def diff(self, id, olds, news) -> DiffResult:
        changes = [key for key in ("message", "store") if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changes), replaces=["store"] if "store" in changes else [])

    def create(self, props) -> CreateResult:
        greeting_id = uuid.uuid4().hex
        outputs = self._outputs(props)
        Path(props["store"], f"{greeting_id}.json").write_text(json.dumps(outputs))
        return CreateResult(greeting_id, outputs)

    def read(self, id, props) -> ReadResult:
        path = Path(props["store"], f"{id}.json")
        if not path.exists():
            return ReadResult(None, {})
        return ReadResult(id, json.loads(path.read_text()))

    def update(self, id, olds, news) -> UpdateResult:
        outputs = self._outputs(news)
        Path(news["store"], f"{id}.json").write_text(json.dumps(outputs))
        return UpdateResult(outputs)

    def delete(self, id, props) -> None:
        Path(props["store"], f"{id}.json").unlink(missing_ok=True)


class Greeting(Resource, module="plumbing", name="Greeting"):
    message: pulumi.Output[str]
    token_fingerprint: pulumi.Output[str]

    def __init__(self, name: str, message: str, store: str, opts=None) -> None:
        props = {"message": message, "store": store, "token_fingerprint": None}
        super().__init__(GreetingProvider(), name, props, opts)
