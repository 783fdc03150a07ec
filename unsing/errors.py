"""Errors a user can act on. The CLI prints them as one line, never as a traceback."""

#: Exit status of a command stopped by Ctrl-C or SIGTERM (128 + SIGINT, the shell's
#: convention): live sessions, renders, library runs and start-up alike.
INTERRUPTED = 130


class UnsingError(Exception):
    """Base class for user-facing errors; ``str(error)`` is the whole message."""


class ConfigError(UnsingError):
    """``config.yaml`` (or a command-line override) is unreadable or invalid."""


class AudioSystemError(UnsingError):
    """No usable audio system: PortAudio missing, no devices, or no such device."""


class ModelFileError(UnsingError):
    """A model file is missing, corrupt, or contradicts the configuration."""


class AudioFileError(UnsingError):
    """An audio file cannot be read, written, or has a shape unsing cannot process."""
