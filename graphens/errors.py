"""What graphens raises for bad input, and warns about when a run did not work."""


class GraphensError(ValueError):
    """Bad input: the message names the offending value and says how to fix it.

    The CLI turns this exception into a one-line message and exit code 2.
    """


class GraphensWarning(UserWarning):
    """Something worked but not well (a flat loss, an unconverged probe, a node that never learns).

    The CLI prints each as one line, ``graphens: warning: ...``; runs also record them in
    ``results.json["warnings"]``.
    """


_collectors: list[list[str]] = []


def warn(message: str, stacklevel: int = 2) -> None:
    """Emit ``message`` as a :class:`GraphensWarning` and record it in every active
    :func:`collect_warnings` (so a run can write it into ``results.json``)."""
    import warnings

    for collected in _collectors:
        if message not in collected:
            collected.append(message)
    warnings.warn(message, GraphensWarning, stacklevel=stacklevel + 1)


class collect_warnings:  # noqa: N801 - used like a function: ``with collect_warnings() as w``
    """Context manager: the list of graphens warnings emitted inside it, in order, each once."""

    def __enter__(self) -> list[str]:
        self.messages: list[str] = []
        _collectors.append(self.messages)
        return self.messages

    def __exit__(self, *exc: object) -> None:
        _collectors.remove(self.messages)
