"""Global states: states every other state can jump to on an intent, then come back from.

``help_state.set_global(help_intent)`` makes ``help_intent`` lead from (almost) any state to
``help_state``; when the global state's *component* (the states its transitions lead to) is
done, the session returns to the state it came from, whose body runs again. This follows BBF
1.5's rules exactly, quirks included:

- the component is the global state plus the chain of first transitions it has when
  ``set_global`` is called, plus the destination of every automatic, intent or event transition
  added later from a state already in the component;
- when the bot is frozen, every state that is neither global nor in a component, and whose
  first transition is not automatic, gets an intent transition to each global state (after its
  own transitions); the *last* state of the component gets, per such state, a transition back
  to it when the session variable ``prev_state`` names it;
- entering a global state stores the current state's name in ``prev_state`` (BBF stores the
  State object; here session data stays plain data, so it is the name).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING

from runtime.errors import BotDefinitionError

if TYPE_CHECKING:
    from runtime.bot._intent import Intent
    from runtime.bot._state import State

__all__ = ["PREV_STATE", "GlobalStates"]

PREV_STATE = "prev_state"
"""The session variable holding the name of the state a global state was entered from."""


class GlobalStates:
    """The global states of one bot and their components, while it is being defined."""

    def __init__(self) -> None:
        self._pending: list[tuple[State, Intent]] = []
        self._components: dict[State, list[State]] = {}

    @property
    def states(self) -> frozenset[State]:
        """The global states."""
        return frozenset(self._components)

    def add(self, state: State, intent: Intent) -> None:
        """Make ``state`` global, entered on ``intent``."""
        self._pending.append((state, intent))
        component = [state]
        self._components[state] = component
        transitions = state.transitions
        while transitions:  # BBF follows first transitions only ("linear" components)
            dest = transitions[0].dest
            if dest in component:
                break  # BBF loops forever here; a cycle ends the chain instead
            component.append(dest)
            transitions = dest.transitions

    def note_transition(self, source: State, dest: State) -> None:
        """Grow the components as BBF does when a transition is added from ``source``."""
        if any(source is state for state, _ in self._pending):
            self._components[source].append(dest)
            return
        for component in self._components.values():
            if source in component:
                component.append(dest)

    def connect(self, states: Sequence[State]) -> None:
        """Add the transitions into and out of the global states (once, at freeze).

        Raises:
            BotDefinitionError: a state already has a transition on a global state's intent
                (nothing is added then).
        """
        if not self._pending:
            return
        follow_up = {s for g, _ in self._pending for s in self._components[g]}
        global_names = {state.name for state, _ in self._pending}
        plan = []
        for global_state, intent in self._pending:
            for state in states:
                if state.name in global_names or state in follow_up:
                    continue
                transitions = state.transitions
                if not transitions or transitions[0].kind.value == "auto":
                    continue
                if intent in state.intents:
                    raise BotDefinitionError(
                        f"state {state.name!r} has its own transition on intent "
                        f"{intent.name!r}, which also leads to the global state "
                        f"{global_state.name!r} from every state: use another intent for one"
                    )
                plan.append((global_state, intent, state))
        self._pending.clear()
        for global_state, intent, state in plan:
            state.when_intent_matched_go_to(intent, global_state)
            self._components[global_state][-1].when_variable_matches_operation_go_to(
                PREV_STATE, operator.eq, state.name, state
            )
