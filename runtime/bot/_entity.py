"""Entities: the kinds of value an intent parameter takes from a message (BBF's names).

A custom entity lists its values, each with synonyms (``{"Barcelona": ["BCN", "barna"]}``); a
base entity is built in: ``number_entity`` (``base.number``), ``datetime_entity``
(``base.date-time``) and ``any_entity`` (``base.any``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from runtime.errors import BotDefinitionError

__all__ = [
    "BASE_ENTITY_NAMES",
    "Entity",
    "EntityEntry",
    "IntentParameter",
    "any_entity",
    "base_entity",
    "datetime_entity",
    "number_entity",
]

NUMBER = "base.number"
DATETIME = "base.date-time"
ANY = "base.any"
BASE_ENTITY_NAMES = (DATETIME, NUMBER, ANY)
"""The base entities' names, in the order the recogniser looks for them (BBF's order: a
date-time holds numbers, so date-times are found first)."""


@dataclass(frozen=True)
class EntityEntry:
    """One value of a custom entity and the other ways users write it.

    Attributes:
        value: the value a matched parameter reports.
        synonyms: other spellings that mean the same value.
    """

    value: str
    synonyms: tuple[str, ...] = ()


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise BotDefinitionError(f"{what} must be a str, got {type(value).__name__}")
    if not value.strip():
        raise BotDefinitionError(f"{what} must be a non-empty str")
    return value


class Entity:
    """A kind of value to find in messages (BBF's ``Entity``).

    Create custom entities with :meth:`Bot.new_entity`; use the base entities
    ``number_entity``, ``datetime_entity`` and ``any_entity`` as they are.

    Args:
        name: the entity's name; a base entity's is one of :data:`BASE_ENTITY_NAMES`.
        base_entity: whether it is one of the built-in base entities.
        entries: a custom entity's values, each mapped to its synonyms.
        description: what the entity means, in words.

    Raises:
        BotDefinitionError: a name, value or synonym is not a non-empty str; a base entity has
            entries or an unknown name; a custom entity has none.
    """

    __slots__ = ("base_entity", "description", "entries", "name")

    def __init__(
        self,
        name: str,
        base_entity: bool = False,
        entries: Mapping[str, Iterable[str]] | None = None,
        description: str | None = None,
    ) -> None:
        self.name = _text(name, "an entity name")
        self.base_entity = bool(base_entity)
        self.description = description
        if self.base_entity:
            if name not in BASE_ENTITY_NAMES:
                raise BotDefinitionError(
                    f"there is no base entity {name!r}: the base entities are "
                    f"{', '.join(BASE_ENTITY_NAMES)} (use number_entity, datetime_entity or "
                    "any_entity)"
                )
            if entries:
                raise BotDefinitionError(f"base entity {name!r} takes no entries")
            self.entries: tuple[EntityEntry, ...] | None = None
            return
        if entries is None or not isinstance(entries, Mapping) or not entries:
            raise BotDefinitionError(
                f"entity {name!r} needs entries: a dict of values to lists of synonyms, such as "
                "{'Barcelona': ['BCN']}"
            )
        made = []
        for value, synonyms in entries.items():
            _text(value, f"a value of entity {name!r}")
            if isinstance(synonyms, str) or not isinstance(synonyms, Iterable):
                raise BotDefinitionError(
                    f"entity {name!r}: the synonyms of {value!r} must be a list of str"
                )
            words = tuple(_text(s, f"a synonym of {value!r} in entity {name!r}") for s in synonyms)
            made.append(EntityEntry(value, words))
        self.entries = tuple(made)

    def __repr__(self) -> str:
        kind = "base " if self.base_entity else ""
        return f"Entity({kind}{self.name!r})"


number_entity = Entity(NUMBER, base_entity=True, description="Any number")
datetime_entity = Entity(DATETIME, base_entity=True, description="Any date, time or date-time")
any_entity = Entity(ANY, base_entity=True, description="Any text")

_BASE = {entity.name: entity for entity in (number_entity, datetime_entity, any_entity)}


def base_entity(name: str) -> Entity:
    """Return the base entity called ``name`` (one of :data:`BASE_ENTITY_NAMES`).

    Raises:
        BotDefinitionError: there is no such base entity.
    """
    entity = _BASE.get(name)
    if entity is None:
        raise BotDefinitionError(
            f"there is no base entity {name!r}: the base entities are "
            f"{', '.join(BASE_ENTITY_NAMES)}"
        )
    return entity


@dataclass(frozen=True)
class IntentParameter:
    """A parameter of an intent: the ``fragment`` of its training sentences where a value of
    ``entity`` stands (BBF's ``IntentParameter``).

    Raises:
        BotDefinitionError: ``name`` or ``fragment`` is not a non-empty str, or ``entity`` is
            not an :class:`Entity`.
    """

    name: str
    fragment: str
    entity: Entity

    def __post_init__(self) -> None:
        _text(self.name, "a parameter name")
        _text(self.fragment, f"the fragment of parameter {self.name!r}")
        if not isinstance(self.entity, Entity):
            raise BotDefinitionError(
                f"parameter {self.name!r} needs an Entity (bot.new_entity(...) or a base entity "
                f"such as number_entity), got {type(self.entity).__name__}"
            )
