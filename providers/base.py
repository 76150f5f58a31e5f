"""What every Twilio resource provider shares: credentials from `configure`, input checks
through a pydantic model, a diff over declared inputs, and patience with Twilio's
eventually consistent reads.

Providers are pickled into state by reference (module + class), so they keep no state of
their own beyond what `configure` sets in the provider process, and they capture nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, DiffResult, ResourceProvider
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN
from pydantic import BaseModel, ValidationError

from providers.errors import TwilioResourceError
from twilio_access.credentials import TwilioSession, resolve_parent_credentials

T = TypeVar("T")


def is_unknown(value: Any) -> bool:
    """During a preview, check/diff receive values not known yet (an SID Twilio has not
    assigned): as Unknown objects, Outputs, the UNKNOWN sentinel, or lists holding them."""
    if isinstance(value, list | tuple):
        return any(is_unknown(item) for item in value)
    if isinstance(value, dict):
        return any(is_unknown(item) for item in value.values())
    return isinstance(value, Unknown | pulumi.Output) or (
        isinstance(value, str) and value == UNKNOWN
    )


def declared(props: dict[str, Any]) -> dict[str, Any]:
    """Inputs without the engine's own keys (`__provider`)."""
    return {key: value for key, value in props.items() if not key.startswith("__")}


def _readable(method: Callable[..., T]) -> Callable[..., T]:
    """The engine prints a provider error's whole traceback. For our own errors (they name
    the resource and Twilio's code), drop the frames below the provider method so the
    message, not the stack, is what a person reads."""

    @functools.wraps(method)
    def wrapper(self, *args):
        try:
            return method(self, *args)
        except TwilioResourceError as error:
            raise error.with_traceback(None) from None

    return wrapper


class TwilioProvider(ResourceProvider):
    """Base of one Twilio resource type. Subclasses set the class attributes and implement
    create/read/update/delete; check and diff come from here."""

    kind: ClassVar[str]
    inputs_model: ClassVar[type[BaseModel]]
    # Inputs whose change means a new object (Twilio cannot change them in place).
    replace_on: ClassVar[frozenset[str]] = frozenset()
    # Inputs that never make a diff: the state mark only matters to a create (a state moved
    # to another backend keeps its objects as they are).
    not_compared: ClassVar[frozenset[str]] = frozenset({"state_mark"})
    # The instance pickled into state holds nothing secret: keep `__provider` in plain text.
    serialize_as_secret_always = False

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("create", "read", "update", "delete"):
            if name in cls.__dict__:
                setattr(cls, name, _readable(cls.__dict__[name]))

    def configure(self, req) -> None:
        self._session = TwilioSession(resolve_parent_credentials(req.config))

    @property
    def session(self) -> TwilioSession:
        return self._session

    def parse(self, props: dict[str, Any]) -> Any:
        """The declared inputs among a resource's props (which also hold outputs), validated."""
        fields = self.inputs_model.model_fields
        return self.inputs_model.model_validate({k: v for k, v in props.items() if k in fields})

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate through the inputs model and return the inputs normalized (defaults
        filled in), so state records every setting we manage. During a preview, inputs that
        are not known yet are left out of the check and checked once they are."""
        inputs = declared(news)
        known = {key: value for key, value in inputs.items() if not is_unknown(value)}
        failures: list[CheckFailure] = []
        normalized: dict[str, Any] | None = None
        try:
            model = self.inputs_model.model_validate(known)
            normalized = model.model_dump(mode="json", exclude_none=True)
        except ValidationError as error:
            for problem in error.errors():
                field = ".".join(str(part) for part in problem["loc"]) or "(inputs)"
                if problem["type"] == "missing" and field in inputs:
                    continue  # unknown during preview; checked again when it is known
                failures.append(CheckFailure(field, f"{self.kind}: {problem['msg']}"))
        failures += [CheckFailure(f, r) for f, r in self.extra_checks(known)]
        if failures or normalized is None or len(known) < len(inputs):
            return CheckResult(news, failures)
        return CheckResult(normalized, [])

    def extra_checks(self, inputs: dict[str, Any]) -> Iterable[tuple[str, str]]:
        """Rules across fields that the model cannot state; (property, reason) pairs."""
        return ()

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Compare what is declared with what state last saw (outputs hold the observed
        value of every managed input, so drift found by refresh shows up here)."""
        news = self._normalized(news)
        changed = [
            key
            for key in self.inputs_model.model_fields
            if key not in self.not_compared
            and (is_unknown(news.get(key)) or olds.get(key) != news.get(key))
        ]
        replaces = [key for key in changed if key in self.replace_on]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def _normalized(self, news: dict[str, Any]) -> dict[str, Any]:
        """Inputs with the model's defaults filled in, as `check` records them."""
        inputs = declared(news)
        if any(is_unknown(value) for value in inputs.values()):
            return inputs
        try:
            model = self.inputs_model.model_validate(inputs)
        except ValidationError:
            return inputs
        return model.model_dump(mode="json", exclude_none=True)
