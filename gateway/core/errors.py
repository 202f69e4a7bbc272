"""Errors the domain names."""


class CheckpointError(Exception):
    """Base of the project's own errors."""


class ConfigError(CheckpointError):
    """The configuration is invalid; the message names the file, the key and what is allowed."""


class StorageError(CheckpointError):
    """A database cannot be used: full disk, I/O error, a damaged, locked or foreign file.

    The storage layers (the gate's and the collector's) raise it in place of their driver's
    errors, so nothing above them needs to know which database library is underneath.
    """


class NotRecordedError(CheckpointError):
    """An entry could not be written durably (e.g. disk full); it is kept and retried."""


class EntryNotFoundError(CheckpointError):
    """No entry with that id."""


class ActionNotAllowedError(CheckpointError):
    """A guard action that does not apply to this entry (the message says why)."""
