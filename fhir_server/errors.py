"""Errors that end a command or the server's start with one clear sentence."""


class StartupError(Exception):
    """Something an operator must fix before CareSpace can run; the message says what."""
