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
