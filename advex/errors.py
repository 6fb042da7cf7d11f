"""Errors advex raises for bad input: each message names the problem and the fix."""


class AdvexError(Exception):
    """Base class: a user-facing problem with a message that says how to fix it."""


class DataMissingError(AdvexError):
    """A data set's files are not where advex looked; the message says where to put them."""


class DataFormatError(AdvexError):
    """A data file exists but is malformed; the message names the file and the line."""


class ModelFileError(AdvexError):
    """A model file or its card is missing, corrupt or inconsistent."""


class TrainerInputError(AdvexError, ValueError):
    """A bad hyper-parameter or training input: an AdvexError for users, a ValueError for scikit-learn."""
