"""Rule machinery shared by every model of the stack file.

Pydantic stops a model's after-validators at the first one that raises, which would report one
broken rule at a time. Instead each model marks its rule methods with `@rule` (named after the
rule; the name is the error type); one validator runs them all and raises every violation at
once, each at its own location. `validate_tree` goes further and checks the rules of the whole
tree together once its shape is valid.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]
_RULES_ROOT = "architecture.rules_root"


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (relative to the model that checks it) and what must change."""

    loc: Loc
    message: str
    input: Any = None


RuleMethod = Callable[[Any], Iterator[Violation]]


def rule(method: RuleMethod) -> RuleMethod:
    """Mark a method as a rule; its name becomes the error type of its violations."""
    method.is_rule = True  # type: ignore[attr-defined]
    return method


class RuleModel(BaseModel):
    """Frozen, closed to unknown fields, and checked against its `@rule` methods."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    _rule_names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._rule_names = tuple(
            name for name, member in vars(cls).items() if getattr(member, "is_rule", False)
        )

    @model_validator(mode="after")
    def enforce_rules(self, info: ValidationInfo) -> Self:
        root = (info.context or {}).get(_RULES_ROOT)
        if root is None:
            found = list(self.own_violations())
        elif type(self) is root:
            found = list(self.violations_in_tree())
        else:
            return self  # validate_tree: the root checks the whole tree once it is well-formed
        if found:
            # A ValidationError raised here keeps each detail's own location, prefixed by
            # pydantic with this model's position in the document.
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(name, violation.message),
                        loc=violation.loc,
                        input=violation.input,
                    )
                    for name, violation in found
                ],
            )
        return self

    def own_violations(self) -> Iterator[tuple[str, Violation]]:
        for name in self._rule_names:
            for violation in getattr(self, name)():
                yield name, violation

    def violations_in_tree(self, loc: Loc = ()) -> Iterator[tuple[str, Violation]]:
        """Every rule violation of this model and the models inside it, in document order
        (a model's own rules after its contents), located from this model."""
        for field_name in type(self).model_fields:
            value = getattr(self, field_name)
            items = enumerate(value) if isinstance(value, tuple) else [(None, value)]
            for index, item in items:
                if isinstance(item, RuleModel):
                    where = (*loc, field_name) if index is None else (*loc, field_name, index)
                    yield from item.violations_in_tree(where)
        for name, violation in self.own_violations():
            yield name, replace(violation, loc=(*loc, *violation.loc))


ModelT = TypeVar("ModelT", bound=RuleModel)


def validate_tree(model: type[ModelT], data: Any) -> ModelT:
    """Validate `data` as `model`, reporting rules only once the whole tree is well-formed, and
    then every rule violation of the tree at once.

    Checked model by model, a violation deep inside (a duplicate number) would hide the rules of
    every model around it until fixed; this way a stack file takes at most two rounds: its shape,
    then its rules.
    """
    return model.model_validate(data, context={_RULES_ROOT: model})


def rule_error(rule_name: str, message: str) -> PydanticCustomError:
    """The error a field-level rule raises; pydantic formats no placeholders without context."""
    return PydanticCustomError(rule_name, message)


def repeats(values: tuple[Hashable, ...]) -> Iterator[tuple[int, Any, int]]:
    """(index, value, index of first occurrence) for each value seen before."""
    first_seen: dict[Hashable, int] = {}
    for index, value in enumerate(values):
        if value in first_seen:
            yield index, value, first_seen[value]
        else:
            first_seen[value] = index
