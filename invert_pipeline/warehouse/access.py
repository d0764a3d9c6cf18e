"""What SQL on a read connection may reach besides the warehouse file: DuckDB's own locks.

Every read connection opens with extension autoinstall and autoload off, community extensions and
Python replacement scans off, and its configuration locked, so no statement can switch any of it
back on. What it may read besides the warehouse is a :class:`FileAccess`:

- nothing (the default, for the pipeline's own queries): external access off;
- the files under some folders (``invert sql`` and ``invert query``: the workspace): external
  access off except for those folders (DuckDB's ``allowed_directories``, which it checks after
  resolving ``..`` and symbolic links);
- every local file (``--allow-files``): external access on, but still no extension, so no network
  (``https://``, ``s3://``) and no foreign database scans (``sqlite_scan``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import duckdb

from invert_pipeline.warehouse.errors import WarehouseError

# Settings DuckDB accepts before the database starts, for every read connection.
_ALWAYS = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
}


@dataclass(frozen=True)
class FileAccess:
    """The files a read connection's SQL may read besides the warehouse: folders, or every local file."""

    directories: tuple[str, ...] = ()
    any_local_file: bool = False


NO_FILES = FileAccess()


def file_access(
    directories: tuple[str | os.PathLike, ...] | list[str | os.PathLike] = (), *, any_local_file: bool = False
) -> FileAccess:
    """A :class:`FileAccess` for ``directories`` (absolute, as written and resolved), or every local file."""
    if not isinstance(any_local_file, bool):
        raise WarehouseError(f"`allow_files` must be true or false, got {any_local_file!r}")
    if not isinstance(directories, (tuple, list)) or not all(
        isinstance(folder, (str, os.PathLike)) for folder in directories
    ):
        raise WarehouseError(f"`directories` must be a tuple of folder paths, got {directories!r}")
    if any_local_file:
        return FileAccess(any_local_file=True)
    absolute = [os.path.abspath(folder) for folder in directories]
    spellings = absolute + [os.path.realpath(folder) for folder in absolute]
    return FileAccess(directories=tuple(dict.fromkeys(os.path.join(folder, "") for folder in spellings)))


def connect_config(access: FileAccess) -> dict[str, bool]:
    """The ``config`` of ``duckdb.connect`` for ``access``; :func:`restrict` finishes what it cannot set."""
    config = dict(_ALWAYS)
    if not access.directories:  # nothing left to set once the database runs: lock it now
        config["enable_external_access"] = access.any_local_file
        config["lock_configuration"] = True
    return config


def restrict(connection: duckdb.DuckDBPyConnection, access: FileAccess) -> None:
    """Allow ``access``'s folders, turn external access off and lock the configuration.

    DuckDB takes ``allowed_directories`` only once the database runs and while external access is
    still on, so these settings follow the connection; a connection made with
    :func:`connect_config` for access without folders is complete already.
    """
    if not access.directories or access.any_local_file:
        return
    connection.execute("set allowed_directories = $folders", {"folders": list(access.directories)})
    connection.execute("set enable_external_access = false")
    connection.execute("set lock_configuration = true")


def explain_refusal(error: duckdb.Error, access: FileAccess) -> str | None:
    """What to tell the user when ``error`` is DuckDB refusing a file, the network or an extension."""
    text = str(error)
    if isinstance(error, duckdb.PermissionException):
        where = (
            f"the files under {', '.join(access.directories)}" if access.directories else "no other file"
        )
        return (
            f"refused by the warehouse's locked-down connection ({text.splitlines()[0]}): SQL here reads "
            f"the warehouse and {where}; pass --allow-files to read other local files "
            "(the network stays closed)"
        )
    if "extension" in text and ("INSTALL" in text or "requires the extension" in text):
        return (
            f"refused by the warehouse's locked-down connection ({text.splitlines()[0]}): SQL here never "
            "installs or loads DuckDB extensions, so it reaches no network address (https://, s3://) "
            "and scans no other database (sqlite_scan); even --allow-files reads local files only. "
            "Copy the data into a local file and read that with --allow-files"
        )
    return None
