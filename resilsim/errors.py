"""The package's own errors: each carries one clear sentence for the user."""
from __future__ import annotations


class ResilsimError(Exception):
    """Base of every error resilsim raises on purpose (the CLI prints it without a traceback)."""


class ScenarioError(ResilsimError, ValueError):
    """A scenario that cannot be loaded: names the file, the field path and what is allowed."""

    def __init__(self, message: str, *, source: str | None = None, path: str | None = None,
                 line: int | None = None):
        self.source = source
        self.path = path
        self.line = line
        self.reason = message
        where = []
        if source:
            where.append(f"{source}:{line}" if line else str(source))
        if path:
            where.append(path)
        super().__init__(": ".join(where + [message]))


class UsageError(ResilsimError, ValueError):
    """A command-line option (or a call's argument) that cannot be used: names the option and what is allowed.

    Kept apart from :class:`ScenarioError` because nothing is wrong with the
    scenario file; ``source`` names it only when the option refers into it
    (``--strategy`` naming a strategy the file lacks).
    """

    def __init__(self, message: str, *, option: str | None = None, source: str | None = None):
        self.option, self.source, self.reason = option, source, message
        super().__init__(": ".join([w for w in (source, option) if w] + [message]))


class PolicyError(ResilsimError, TypeError):
    """A strategy given as Python objects that breaks a policy protocol, or that cannot be sent to sweep workers:
    names the strategy and the object (resilsim.policies.protocols)."""


class CatalogError(ResilsimError, ValueError):
    """A catalog file that cannot be used: names the file, the field and what is allowed."""


class InvariantError(ResilsimError, AssertionError):
    """A run whose tables break one of the simulator's invariants: a bug in resilsim, never bad input.

    The message is a bug report: which check failed, on which rows, and the
    scenario, strategy and seed that reproduce it (see docs/reliability.md).
    """

    def __init__(self, message: str, *, check: str = "", scenario: str = "", strategy: str = "", seed=None):
        self.check, self.scenario, self.strategy, self.seed = check, scenario, strategy, seed
        super().__init__(message)


class StoreError(ResilsimError):
    """A results directory that cannot be used: unwritable, full, holding another sweep, or incomplete."""


class ScenarioWarning(UserWarning):
    """A scenario that loads but will likely not do what its author meant, e.g. a call every attempt of which
    times out (the CLI prints one line)."""


class StoreWarning(UserWarning):
    """Stored files left out or run again: copied in from another sweep, or unreadable (the CLI prints one line)."""


def worker_ended(worker: str, undone: str) -> str:
    """The sentence for a worker process that ended before its answer came back (killed, or out of memory):
    ``worker`` names it ("a chart worker process"), ``undone`` says what it left undone ("without drawing x.png").
    Said the same way wherever such a process is waited for (the run's charts, the explorer's preview)."""
    return f"{worker} ended {undone} (killed, or out of memory?)"
