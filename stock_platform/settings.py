"""Typed settings bound to environment variables: the base of each system's settings model.

A system's model (`stock_platform/<system>/settings.py`) declares each setting once: its type, its
default, the environment variable that sets it and whether that variable holds a secret. The rest
derives from the model:

- the system's Dagster resource inherits the model, so the resource's fields *are* the model's;
  `env_bound()` binds each one to its variable with `dg.EnvVar`, which Dagster reads when a run
  initializes the resource: never at import time, and never into run config or metadata;
- code outside Dagster (the CLI, the dry run) reads an environment mapping it is given with
  `from_environ()`, and never writes `os.environ`;
- `env_defaults()` is what the local launcher fills unset variables with (and what the Helm tests
  check the chart sets); `secret_variables()` names the variables that must come from a Secret.

This module and the models import nothing heavier than pydantic, so the launcher and the dry run
load no Dagster or client library to learn a default.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

_Model = TypeVar("_Model", bound="EnvSettings")
# dg.EnvVar feeds str fields and dg.EnvVar.int int fields; nothing else can be read from a variable.
_STR_TYPES = (str, str | None)


@dataclass(frozen=True)
class EnvVariable:
    """An environment variable that sets a setting: its name, the setting's default and how its value is guarded.

    A secret comes from the environment only (a Kubernetes Secret in production) and so has no default;
    `redacted` keeps a value that is not a secret but may embed one (a Redis URL with a password) out of repr.
    """

    name: str
    default: str | int | None = None
    secret: bool = False
    redacted: bool = False

    def __post_init__(self) -> None:
        if self.secret and self.default is not None:
            raise ValueError(f"{self.name} is a secret: it comes from the environment only and has no default")

    @property
    def default_text(self) -> str:
        """The default as the variable's text: what the launcher fills in when the variable is unset."""
        return env_text(self.default)

    def field(self, description: str) -> Any:
        """A model field set by this variable; its value stays out of repr when secret or redacted."""
        guard = "secret, from the environment only: " if self.secret else ""
        info = Field(
            default=self.default,
            description=f"{description} ({guard}{self.name}).",
            repr=not (self.secret or self.redacted),
        )
        # Unknown metadata is ignored by validation; the models and their resources find their variables by it.
        info.metadata.append(self)
        return info


def env_field(name: str, default: str | int | None, description: str) -> Any:
    """A setting read from the variable `name`, `default` when the variable is unset."""
    return EnvVariable(name, default).field(description)


def secret_field(name: str, description: str) -> Any:
    """A secret read from the variable `name` only: no default, never in repr, run config or metadata."""
    return EnvVariable(name, secret=True).field(description)


def env_text(value: object) -> str:
    """A setting's value as environment-variable text (None: empty, as an unset optional variable is filled)."""
    return "" if value is None else str(value)


# Variables that more than one system reads: declared once here so their defaults cannot drift apart.
DATA_DIR = EnvVariable("STOCK_PLATFORM_DATA_DIR", ".stock_platform")
REDIS_URL = EnvVariable("REDIS_URL", redacted=True)


class EnvSettings(BaseModel):
    """The settings of one system; the ones an operator sets through the environment name their variable.

    A Dagster resource inherits its system's model (`class KafkaResource(dg.ConfigurableResource, KafkaEnv)`)
    and adds the tuning fields that have no variable. A field whose type is another model is a nested model
    (the market store holds the embedded and the Cassandra store's settings).
    """

    model_config = ConfigDict(frozen=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, variable in cls.env_fields().items():
            if cls.model_fields[name].annotation not in (*_STR_TYPES, int):
                raise TypeError(
                    f"{cls.__name__}.{name}: {variable.name} can set only a str, str | None or int field "
                    "(what dg.EnvVar and dg.EnvVar.int feed)"
                )

    @classmethod
    def env_fields(cls) -> dict[str, EnvVariable]:
        """This model's fields that a variable sets, by field name (nested models excluded)."""
        return {
            name: variable
            for name, field in cls.model_fields.items()
            for variable in field.metadata
            if isinstance(variable, EnvVariable)
        }

    @classmethod
    def nested_models(cls) -> dict[str, type[EnvSettings]]:
        """Fields holding another model (or a resource inheriting one), by field name."""
        nested = {}
        for name, field in cls.model_fields.items():
            model = _model_in(field.annotation)
            if model is not None:
                nested[name] = model
        return nested

    @classmethod
    def env_variables(cls) -> Iterator[EnvVariable]:
        """Every variable this model and its nested models read."""
        yield from cls.env_fields().values()
        for model in cls.nested_models().values():
            yield from model.env_variables()

    @classmethod
    def from_environ(cls: type[_Model], environ: Mapping[str, str], **values: Any) -> _Model:
        """The settings with each variable set in `environ` read from it, unset ones at their default; `values` win.

        Reads the mapping it is given (e.g. `os.environ`) and writes nothing. A variable set to a value its
        field cannot hold (CASSANDRA_PORT=abc) is a one-line ValueError naming the variable.
        """
        read: dict[str, Any] = {}
        for name, variable in cls.env_fields().items():
            if name not in values and variable.name in environ:
                read[name] = _parse(variable, cls.model_fields[name].annotation, environ[variable.name])
        for name, model in cls.nested_models().items():
            if name not in values:
                read[name] = model.from_environ(environ)
        return cls(**read, **values)

    @classmethod
    def env_bound(cls: type[_Model], **values: Any) -> _Model:
        """For a Dagster resource inheriting a model: each variable bound with `dg.EnvVar`; `values` win.

        Dagster reads the variables when a run initializes the resource and keeps only their names in the
        run's config, so a secret's value never reaches run config, the UI or event metadata.
        """
        import dagster as dg

        bound: dict[str, Any] = {}
        for name, variable in cls.env_fields().items():
            is_int = cls.model_fields[name].annotation is int
            bound[name] = dg.EnvVar.int(variable.name) if is_int else dg.EnvVar(variable.name)
        for name, model in cls.nested_models().items():
            bound[name] = model.env_bound()
        return cls(**{**bound, **values})


def env_defaults(models: Iterable[type[EnvSettings]]) -> dict[str, str]:
    """Every variable the models read, with its default as text; a variable declared twice must agree with itself."""
    return {variable.name: variable.default_text for variable in _declared_variables(models)}


def secret_variables(models: Iterable[type[EnvSettings]]) -> frozenset[str]:
    """The variables of the models that hold secrets."""
    return frozenset(variable.name for variable in _declared_variables(models) if variable.secret)


def _declared_variables(models: Iterable[type[EnvSettings]]) -> list[EnvVariable]:
    """One declaration per variable; a second field on the same variable with another default or guard is an error."""
    declared: dict[str, EnvVariable] = {}
    for model in models:
        for variable in model.env_variables():
            known = declared.setdefault(variable.name, variable)
            if known != variable:
                raise ValueError(f"{variable.name} is declared twice, differently: {known} and {variable}")
    return list(declared.values())


def _parse(variable: EnvVariable, annotation: Any, text: str) -> str | int:
    if annotation is not int:
        return text
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{variable.name}={text!r} is not a whole number") from None


def _model_in(annotation: Any) -> type[EnvSettings] | None:
    """The model class an annotation holds, also inside a union or Annotated (how Dagster types nested resources)."""
    if inspect.isclass(annotation) and get_origin(annotation) is None and issubclass(annotation, EnvSettings):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType) or hasattr(annotation, "__metadata__"):
        for argument in get_args(annotation):
            model = _model_in(argument)
            if model is not None:
                return model
    return None
