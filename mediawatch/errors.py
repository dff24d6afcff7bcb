"""The one error family users see as a message rather than a traceback."""


class OperationalError(RuntimeError):
    """The world or the input is not as needed: a node that cannot start, a cluster that
    is down, a crawl that failed, bad configuration. The message says what and why;
    commands print it as one line and exit non-zero."""
