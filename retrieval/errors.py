"""The exception family. Every message is one line: the problem, then the fix."""


class RetrievalError(Exception):
    """Base class: the CLI and the app show ``str(error)`` as a single line."""


class SourceError(RetrievalError):
    """A source folder or file cannot be read or holds no indexable text."""


class IndexMissingError(RetrievalError):
    """There is no index at the given path yet."""


class IndexCorruptError(RetrievalError):
    """The index on disk fails a checksum or consistency check."""


class IndexMismatchError(RetrievalError):
    """The index was built with another model, schema or chunker."""


class QueryError(RetrievalError):
    """A question or search query cannot be run as given."""


class ConfigError(RetrievalError):
    """A setting has a value that breaks a rule."""


class LLMError(RetrievalError):
    """The configured chat model could not be reached or used."""


def check_k(k: int, error: type[Exception] = QueryError) -> int:
    """``k``, the number of results asked for, when it is at least 1; otherwise ``error`` (a
    QueryError unless said) with the one-line message every caller gives."""
    if k < 1:
        raise error(f"k must be greater than 0. Currently, k is {k}")
    return k
