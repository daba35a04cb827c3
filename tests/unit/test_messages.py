"""Messages are frozen, slotted, keyword-only values named as Commands or Events."""

from __future__ import annotations

import re

import attrs
import pytest

from cjt_actors import market_messages, messages, order_messages
from cjt_actors.messages import (
    MESSAGE_TYPES,
    ChildStarted,
    Command,
    Event,
    Message,
    all_message_types,
    register,
)

# Past-tense endings of event names; irregular verbs are listed whole.
_PAST_TENSE = re.compile(r"(ed|Overran|GaveUp|Began|Sent|Lost|Left|Held|Built|Bought|Sold)$")


def test_every_concrete_message_is_registered() -> None:
    """The codec can only carry what is registered: a forgotten @register is a lost message."""
    concrete = {
        obj
        for module in (messages, market_messages, order_messages)
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Message)
        and obj not in (Message, Command, Event, messages.SupervisorEvent)
    }
    assert concrete == set(MESSAGE_TYPES.values())
    assert all_message_types() == sorted(concrete, key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", all_message_types(), ids=lambda cls: cls.__name__)
def test_messages_are_frozen_slotted_keyword_only(cls: type[Message]) -> None:
    """Values in flight must not change, carry a __dict__, or be built positionally."""
    assert attrs.has(cls)
    assert "__slots__" in cls.__dict__
    assert all(field.kw_only for field in attrs.fields(cls))
    assert cls.__setattr__ is not object.__setattr__


@pytest.mark.parametrize("cls", all_message_types(), ids=lambda cls: cls.__name__)
def test_events_are_named_in_the_past_tense(cls: type[Message]) -> None:
    """Events are facts (`ChildStarted`); commands ask (`SubmitOrder`). Names say which."""
    assert issubclass(cls, Command | Event)
    if issubclass(cls, Event):
        assert _PAST_TENSE.search(cls.__name__), f"{cls.__name__} is not past tense"
    else:
        assert not _PAST_TENSE.search(cls.__name__), f"{cls.__name__} reads as an event"


def test_a_message_cannot_be_mutated_or_built_positionally() -> None:
    """The guarantees that make a message safe to share between tasks."""
    event = ChildStarted(supervisor="root", at=1.0, child="feed", incarnation=0)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.child = "book"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ChildStarted("root", 1.0, "feed", 0)  # type: ignore[misc]
    assert not hasattr(event, "__dict__")


def test_register_refuses_classes_that_break_the_rules() -> None:
    """A stray, dict-backed or positional message class fails loudly at import time."""

    @attrs.define(kw_only=True)
    class MutableThing:  # neither a Command nor an Event (and mutable)
        x: int

    class PlainThing(Event):
        pass

    @attrs.frozen
    class PositionalThing(Event):
        x: int

    with pytest.raises(TypeError, match="must subclass Command or Event"):
        register(MutableThing)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="attrs class with slots"):
        register(PlainThing)
    with pytest.raises(TypeError, match="keyword-only"):
        register(PositionalThing)


def test_register_refuses_a_second_class_with_a_taken_name() -> None:
    """The class name is the wire tag: two classes with one name would decode wrongly."""

    @attrs.frozen(kw_only=True)
    class ChildStarted(Event):  # same name as the real one
        x: int

    with pytest.raises(TypeError, match="already registered"):
        register(ChildStarted)
    assert register(messages.ChildStarted) is messages.ChildStarted  # idempotent for the same
