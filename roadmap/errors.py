"""The one exception a user can cause: the CLI prints its message as one sentence, exit 2."""


class RoadmapError(Exception):
    """Bad input (file, step, data path, argument): says what is wrong and where, no traceback."""


def malformed_yaml(where: object, e: Exception) -> RoadmapError:
    """A YAML parse error as one sentence naming the file, the line and column, and the problem."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    at = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(e, "problem", None) or (str(e).strip().splitlines() or [type(e).__name__])[0]
    context = getattr(e, "context", None)
    return RoadmapError(f"{where}{at}: malformed YAML ({problem}{f', {context}' if context else ''})")
