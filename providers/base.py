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
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN
from pydantic import BaseModel, ValidationError

from providers.errors import TwilioResourceError, debugging, twilio_errors, twilio_failures
from providers.identity import (
    LOST_ANSWER_OUTPUT,
    lost_answer_settled,
    removal_record,
    still_looking,
    sweep_due,
    wait_until_settled,
)
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


def joined(props: dict[str, Any], *keys: str) -> str:
    """A name made of the declared names that identify a resource, e.g. `acme/backend`."""
    return "/".join(str(props[key]) for key in keys if props.get(key))


def declared(props: dict[str, Any]) -> dict[str, Any]:
    """Inputs without the engine's own keys (`__provider`)."""
    return {key: value for key, value in props.items() if not key.startswith("__")}


# What a diff's look for twins may meet that is not a bug: Twilio or the network failing, or
# a refusal of our own (providers/errors.py).
def _could_not_look() -> tuple[type[BaseException], ...]:
    return (*twilio_failures(), TwilioResourceError)


# Where each operation finds its props: create(props), read(id, props),
# update(id, olds, news), delete(id, props).
OPERATIONS = ("create", "read", "update", "delete")


def _reported(operation: str, method: Callable[..., T]) -> Callable[..., T]:
    """Every create/read/update/delete of a provider reports Twilio and transport failures
    the same way (providers/errors.py): as one message naming the resource, what was being
    done and Twilio's code. Bugs keep their traceback."""

    @functools.wraps(method)
    def wrapper(self: TwilioProvider, *args: Any) -> T:
        props = args[-1] if isinstance(args[-1], dict) else {}
        name = self.label(props) or (str(args[0]) if len(args) > 1 else "(new)")
        doing = self.verbs.get(operation, operation)
        try:
            with twilio_errors(self.kind, name, doing):
                return method(self, *args)
        except TwilioResourceError as error:
            if debugging():
                raise
            # The engine prints a provider error's whole traceback: for a message that
            # names the resource and what to do, the frames are noise.
            raise error.with_traceback(None) from None

    return wrapper


def _sweeping_update(method: Callable[..., UpdateResult]) -> Callable[..., UpdateResult]:
    """An update of a resource whose create was tried again after a lost answer (diff asked for
    it: see `TwilioProvider.diff`) also removes the twins that lost answer left, and clears the
    mark. When nothing declared changed, Twilio's object is left as it is (no write)."""

    @functools.wraps(method)
    def wrapper(self, id, olds, news):
        if not sweep_due(olds):
            return method(self, id, olds, news)
        if self.declared_changes(olds, news):
            result = method(self, id, olds, news)
        else:
            result = UpdateResult(self.unchanged_outputs(olds))
        wait_until_settled(olds)
        removed = self.sweep(id, olds)
        outputs = {k: v for k, v in (result.outs or {}).items() if k != LOST_ANSWER_OUTPUT}
        outputs.pop("removed_twins", None)
        if removed:
            outputs["removed_twins"] = removal_record(removed)
        return UpdateResult(outputs)

    return wrapper


def _settling_read(method: Callable[..., ReadResult]) -> Callable[..., ReadResult]:
    """A refresh sweeps for twins (each provider's read); once the lost-answer window has
    passed, that sweep saw all of them, so the mark that asks the next `up` to sweep goes."""

    @functools.wraps(method)
    def wrapper(self, id, props):
        result = method(self, id, props)
        outputs = result.outs
        if result.id and outputs and sweep_due(outputs) and lost_answer_settled(outputs):
            outputs = {k: v for k, v in outputs.items() if k != LOST_ANSWER_OUTPUT}
            return ReadResult(result.id, outputs)
        return result

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
    # Outputs an in-place update never changes: an update acts on the object it has, so its SID
    # stays. A preview reports them as known (tools/provider_host/provider_previews.py), and
    # what takes them as inputs (a subaccount's numbers) previews unchanged, not replaced.
    kept_on_update: ClassVar[frozenset[str]] = frozenset({"sid"})
    # The instance pickled into state holds nothing secret: keep `__provider` in plain text.
    serialize_as_secret_always = False

    # What a failed operation says it was doing, where the operation's name is not the
    # word for it (a PhoneNumber's create is a purchase).
    verbs: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        extra: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
            "update": _sweeping_update,
            "read": _settling_read,
        }
        for operation in OPERATIONS:
            if operation in cls.__dict__:
                method = cls.__dict__[operation]
                if operation in extra:
                    method = extra[operation](method)
                setattr(cls, operation, _reported(operation, method))

    def label(self, props: dict[str, Any]) -> str:
        """The resource's name in messages: the declared names that identify it (its Pulumi
        resource name is not sent to providers)."""
        return str(props.get("account_key") or "")

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
        value of every managed input, so drift found by refresh shows up here). A resource
        whose create was tried again after a lost answer looks for the twin that answer may
        have left (one list; no Twilio call for any other resource): found, it is an update,
        and the update removes it."""
        changed = self.declared_changes(olds, news)
        replaces = [key for key in changed if key in self.replace_on]
        return DiffResult(
            changes=bool(changed) or self._twin_showed_up(id, olds),
            replaces=replaces,
            delete_before_replace=False,
        )

    def _twin_showed_up(self, id: str, olds: dict[str, Any]) -> bool:
        if not still_looking(olds):
            return False
        try:
            return bool(self.sweep(id, olds, dry_run=True))
        except _could_not_look():
            # Twilio could not be asked, or refused: the update looks again, and reports what
            # fails. Anything else is a bug and fails the diff with its traceback.
            return True

    def declared_changes(self, olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
        news = self._normalized(news)
        return [
            key
            for key in self.inputs_model.model_fields
            if key not in self.not_compared
            and (is_unknown(news.get(key)) or olds.get(key) != news.get(key))
        ]

    @staticmethod
    def unchanged_outputs(olds: dict[str, Any]) -> dict[str, Any]:
        """Outputs of an update that changes nothing in Twilio: what state holds."""
        return declared(olds)

    def sweep(self, id: str, props: dict[str, Any], dry_run: bool = False) -> list[str]:
        """Remove the twins of this object (its tag, this state's mark, another SID) that a
        lost answer left; their SIDs (`dry_run`: only look). Types a lost answer cannot twin
        have none."""
        return []

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
