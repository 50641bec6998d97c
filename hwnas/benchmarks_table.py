"""Tabular benchmarks: one row per architecture, numeric columns of accuracies and latencies.

:func:`load_table` reads the NAS-Bench-201 table shipped with hwnas
(``hwnas/resources/nb201.csv.gz``, see its README) or any CSV file of the same form: a header
row, one column of architecture strings (``arch_str`` by default), and any number of other
columns. A column is numeric when at least half of its values are numbers; every value of a numeric
column must then be a number (``nan`` and ``inf`` are accepted, an empty cell is not). The
other columns (NB201's ``unique_str``) are kept as text. Files may be gzipped (detected from
their first bytes). Only the standard library and numpy are used.

The shipped table is parsed once per process and kept in memory; tables read from a path
are kept too, keyed on the path, its modification time and size.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np

from hwnas.errors import ArchError, ConfigError, DataError

__all__ = ["NB201_TABLE", "BenchmarkTable", "load_table"]

#: The name under which the shipped NAS-Bench-201 table is reported (``table.source``).
NB201_TABLE = "hwnas/resources/nb201.csv.gz"

#: Suffix of the latency columns (milliseconds) of a table.
LATENCY_SUFFIX = "_ms"


class BenchmarkTable:
    """An immutable, in-memory benchmark table.

    Build one with :func:`load_table`.

    Args:
        source: Where the table was read from (a path, or :data:`NB201_TABLE`).
        fingerprint: SHA-256 (hex) of the file's bytes as stored (compressed or not).
        arch_column: The name of the architecture-string column.
        archs: The architecture strings, in file order.
        numeric: Numeric columns, name -> float64 array (one value per architecture).
        text: Other columns, name -> strings (one per architecture).
    """

    def __init__(
        self,
        source: str,
        fingerprint: str,
        arch_column: str,
        archs: tuple[str, ...],
        numeric: dict[str, np.ndarray],
        text: dict[str, tuple[str, ...]],
    ) -> None:
        self.source = source
        self.fingerprint = fingerprint
        self.arch_column = arch_column
        self._archs = archs
        self._rows = {arch: i for i, arch in enumerate(archs)}
        self._numeric = {}
        for name, values in numeric.items():
            values = np.asarray(values, dtype=np.float64)
            values.setflags(write=False)  # shared by every user of a cached table
            self._numeric[name] = values
        self._text = dict(text)

    # -- columns ------------------------------------------------------------------------
    @property
    def columns(self) -> tuple[str, ...]:
        """The numeric columns (accuracies, latencies...), in file order."""
        return tuple(self._numeric)

    @property
    def text_columns(self) -> tuple[str, ...]:
        """The non-numeric columns other than the architecture column, in file order."""
        return tuple(self._text)

    @property
    def latency_columns(self) -> tuple[str, ...]:
        """The numeric columns whose name ends with ``_ms`` (latencies in milliseconds)."""
        return tuple(c for c in self._numeric if c.endswith(LATENCY_SUFFIX))

    @property
    def archs(self) -> tuple[str, ...]:
        """The architecture strings, in file order (row ``i`` is ``archs[i]``)."""
        return self._archs

    def column(self, name: str) -> np.ndarray:
        """The values of numeric column ``name``, one per row (a read-only float64 array).

        Raises:
            ConfigError: ``name`` is not a numeric column of the table (the message lists
                the known ones).
        """
        try:
            return self._numeric[name]
        except KeyError:
            raise self._unknown_column(name) from None

    def text_column(self, name: str) -> tuple[str, ...]:
        """The values of text column ``name`` (``unique_str``...), or of the arch column."""
        if name == self.arch_column:
            return self._archs
        try:
            return self._text[name]
        except KeyError:
            known = ", ".join((self.arch_column, *self._text))
            raise ConfigError("column", f"a text column of {self.source}: {known}", name) from None

    # -- rows ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._archs)

    def __contains__(self, arch: object) -> bool:
        return str(arch) in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._archs)

    def row_of(self, arch: object) -> int:
        """The row index of an architecture (its string, or an ``Arch`` whose ``str`` is it).

        Raises:
            ArchError: The architecture is not in the table.
        """
        key = str(arch)
        try:
            return self._rows[key]
        except KeyError:
            raise ArchError(
                f"architecture {key!r} is not in the table {self.source} "
                f"({len(self)} rows, column {self.arch_column!r})"
            ) from None

    def value(self, arch: object, column: str) -> float:
        """The value of numeric ``column`` for one architecture (string or ``Arch``)."""
        values = self.column(column)
        return float(values[self.row_of(arch)])

    def row(self, arch: object) -> dict[str, float | str]:
        """Every column of one architecture's row, by name."""
        i = self.row_of(arch)
        out: dict[str, float | str] = {self.arch_column: self._archs[i]}
        out.update({name: values[i] for name, values in self._text.items()})
        out.update({name: float(values[i]) for name, values in self._numeric.items()})
        return out

    def percent_scale(self, column: str) -> float:
        """``100.0`` when ``column`` holds percentages (some value above 1), else ``1.0``.

        Raises:
            ConfigError: A value outside 0-100: not a column of accuracies (a latency
                column in ms had been read as accuracies up to 1.83).
        """
        values = self.column(column)
        finite = values[np.isfinite(values)]
        if finite.size and (float(finite.min()) < 0.0 or float(finite.max()) > 100.0):
            raise ConfigError(
                "accuracy_column",
                "a column of accuracies (fractions, or percentages from 0 to 100)",
                f"{column} (values {float(finite.min()):g} to {float(finite.max()):g})",
            )
        return 100.0 if finite.size and float(finite.max()) > 1.0 else 1.0

    def _unknown_column(self, name: str) -> ConfigError:
        if name == self.arch_column or name in self._text:
            expected = f"a numeric column of {self.source} ({name!r} holds text): "
        else:
            expected = f"a column of {self.source}: "
        return ConfigError("column", expected + ", ".join(self._numeric), name)

    def __repr__(self) -> str:
        return (
            f"BenchmarkTable(source={self.source!r}, rows={len(self)}, "
            f"columns={len(self._numeric)}, fingerprint={self.fingerprint[:16]!r})"
        )


def load_table(
    path: str | os.PathLike[str] | None = None, arch_column: str = "arch_str"
) -> BenchmarkTable:
    """Load a benchmark table.

    Args:
        path: A CSV file (optionally gzipped); ``None`` loads the NAS-Bench-201 table shipped
            with hwnas.
        arch_column: The column of architecture strings (canonical ``str(arch)`` forms).

    Returns:
        The table; repeated calls with the same arguments return the same (read-only) object
        while the file is unchanged.

    Raises:
        DataError: The file is missing or unreadable, a row has the wrong number of fields or
            a non-numeric value in a numeric column (the message names the line), or an
            architecture appears twice.
        ConfigError: ``arch_column`` is not a column of the file.
    """
    if not isinstance(arch_column, str) or not arch_column:
        raise ConfigError("arch_column", "a non-empty column name", arch_column)
    if path is None:
        return _load_shipped(arch_column)
    if not isinstance(path, str | os.PathLike):
        raise ConfigError("table", "None or the path of a CSV file", path)
    p = Path(path)
    try:
        stat = p.stat()
    except OSError:
        raise DataError(f"benchmark table {str(p)!r} does not exist") from None
    if not p.is_file():
        raise DataError(f"benchmark table {str(p)!r} is not a file")
    return _load_path(str(p.resolve()), stat.st_mtime_ns, stat.st_size, arch_column)


@functools.lru_cache(maxsize=4)
def _load_shipped(arch_column: str) -> BenchmarkTable:
    data = resources.files("hwnas.resources").joinpath("nb201.csv.gz").read_bytes()
    return _parse(data, NB201_TABLE, arch_column)


@functools.lru_cache(maxsize=8)
def _load_path(path: str, mtime_ns: int, size: int, arch_column: str) -> BenchmarkTable:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise DataError(f"benchmark table {path!r}: cannot read it ({error})") from None
    return _parse(data, path, arch_column)


def _parse(data: bytes, source: str, arch_column: str) -> BenchmarkTable:
    fingerprint = hashlib.sha256(data).hexdigest()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise DataError(f"benchmark table {source}: corrupt gzip data ({error})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"benchmark table {source}: not UTF-8 text ({error})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise DataError(f"benchmark table {source}: empty file, expected a CSV header row")
    header = [h.strip() for h in header]
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise DataError(f"benchmark table {source}: duplicate column(s) {', '.join(duplicates)}")
    if arch_column not in header:
        raise ConfigError("arch_column", f"a column of {source}: {', '.join(header)}", arch_column)

    rows: list[list[str]] = []
    lines: list[int] = []
    for fields in reader:
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        if len(fields) != len(header):
            raise DataError(
                f"benchmark table {source}, line {reader.line_num}: expected {len(header)} "
                f"fields, got {len(fields)}"
            )
        rows.append(fields)
        lines.append(reader.line_num)
    if not rows:
        raise DataError(f"benchmark table {source}: no data rows after the header")

    arch_at = header.index(arch_column)
    archs = tuple(fields[arch_at].strip() for fields in rows)
    seen: dict[str, int] = {}
    for arch, line in zip(archs, lines, strict=True):
        if not arch:
            raise DataError(f"benchmark table {source}, line {line}: empty {arch_column!r}")
        if arch in seen:
            raise DataError(
                f"benchmark table {source}, line {line}: duplicate architecture {arch!r} "
                f"(first on line {seen[arch]})"
            )
        seen[arch] = line

    numeric: dict[str, np.ndarray] = {}
    text_columns: dict[str, tuple[str, ...]] = {}
    for j, name in enumerate(header):
        if j == arch_at:
            continue
        cells = [fields[j].strip() for fields in rows]
        values = [_number(cell) for cell in cells]
        n_numbers = sum(v is not None for v in values)
        if 2 * n_numbers < len(values):  # mostly text: a text column
            text_columns[name] = tuple(cells)
            continue
        for v, cell, line in zip(values, cells, lines, strict=True):
            if v is None:
                raise DataError(
                    f"benchmark table {source}, line {line}, column {name!r}: expected a "
                    f"number, got {cell!r}"
                )
        numeric[name] = np.array(values, dtype=np.float64)
    return BenchmarkTable(source, fingerprint, arch_column, archs, numeric, text_columns)


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None
