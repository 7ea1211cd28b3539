"""The one exception a user can cause: the CLI prints its message as one sentence, exit 2."""


class RoadmapError(Exception):
    """Bad input (file, step, data path, argument): says what is wrong and where, no traceback."""
