"""The one exception type graphens raises for bad user input."""


class GraphensError(ValueError):
    """Bad input: the message names the offending value and says how to fix it.

    The CLI turns this exception into a one-line message and exit code 2.
    """
