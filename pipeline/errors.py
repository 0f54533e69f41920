"""One exception family for domain errors; the CLI turns them into a message and an exit code."""


class EcomError(Exception):
    """A problem the user can act on. The message says what went wrong and what to do next."""

    exit_code = 1


class InputError(EcomError):
    """Input files or arguments are missing or unusable."""

    exit_code = 2


class DataContractError(EcomError):
    """Data violates a contract (row accounting, schema, model metadata)."""

    exit_code = 3


class WarehouseError(EcomError):
    """The warehouse build or a query failed."""

    exit_code = 4


class ModelError(EcomError):
    """A model artifact is missing, corrupt, or does not match the feature contract."""

    exit_code = 5


class StorageError(EcomError):
    """A folder or disk cannot be read or written (permissions, read-only, full)."""

    exit_code = 6


class BusyError(EcomError):
    """Another run holds the data directory (e.g. a second `ecom ingest`)."""

    exit_code = 7


class Interrupted(EcomError):
    """The user stopped the run (Ctrl-C); the message says what was undone or kept."""

    exit_code = 130  # the shell's code for a process ended by SIGINT
