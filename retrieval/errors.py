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
