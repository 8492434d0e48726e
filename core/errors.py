"""User-facing errors: each carries a message that says what happened and what to do.

The CLI and the app show `str(error)` and nothing else; anything that is not a
`RoutingLensError` is a bug and is reported as such.
"""


class RoutingLensError(Exception):
    """Base of every error whose message is meant for the user."""


class InputError(RoutingLensError, ValueError):
    """The text or option the user gave cannot be traced (empty text, unknown word, ...)."""


class ModelNotAvailableError(RoutingLensError):
    """The model cannot be found locally and cannot be downloaded."""


class ModelTooLargeError(RoutingLensError):
    """The model would not fit in the free memory of the chosen device in the chosen dtype."""


class UnsupportedModelError(RoutingLensError):
    """A folder or Hub id that is not a checkpoint of a supported mixture-of-experts family."""


class DataError(RoutingLensError):
    """A benchmark file is missing, malformed or fails its checksum."""
