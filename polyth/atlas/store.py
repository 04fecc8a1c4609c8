"""The atlas on disk: a folder of Parquet partitions, and the small atlas that ships with polyth.

A partition holds consecutive rows of one family (t, e) of :mod:`polyth.atlas.enumeration`
and is named ``t{t}-e{e}-{index:05d}.parquet``; the dataset is the folder, read in file-name
order, which is the atlas order (t, then e, then the enumeration). A partition is written to
a temporary file and renamed into place, so a file with a partition's name is complete: an
interrupted build leaves finished partitions and nothing half-written.

Writing is deterministic: the same rows give the same bytes (fixed Arrow schema, no pandas
metadata, zstd level 9, one row group, no statistics, Parquet format 2.6) for a given
pyarrow version, so a rebuild of the shipped atlas can be compared with it byte for byte.

Example::

    >>> import polyth.atlas
    >>> frame = polyth.atlas.load()                      # the shipped atlas
    >>> frame.query("tree and connected").exponent.unique().tolist()
    ['2']
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from polyth.errors import PolyError

#: the atlas that ships with polyth
SHIPPED = Path(__file__).resolve().parent / "data"
#: how it is built, (t, hyperedges) one build after the other into the same folder: the graphs
#: up to t = 5 (``polyth atlas build --t 5``), then the hypergraphs up to t = 4
#: (``--t 4 --hyperedges 3``, which finds the graphs finished)
SHIPPED_BUILDS = ((5, 2), (4, 3))
SUFFIX = ".parquet"

_WRITE_OPTIONS = dict(
    compression="zstd",
    compression_level=9,
    use_dictionary=True,
    write_statistics=False,
    version="2.6",
    data_page_version="1.0",
    store_schema=False,  # the Parquet types read back as this schema; saves 4 kB per partition
)


def partition_name(t: int, hyperedges: int, index: int) -> str:
    """``t5-e3-00012.parquet``: partition ``index`` of the family (t, hyperedges)."""
    return f"t{t}-e{hyperedges}-{index:05d}{SUFFIX}"


def write_partition(rows: list[dict], schema: pa.Schema, path: Path) -> None:
    """Write ``rows`` (dicts keyed by the schema's names) to ``path``: atomically, deterministically."""
    table = pa.Table.from_pylist(rows, schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".writing-{os.getpid()}-{path.name}")
    try:
        pq.write_table(table, temporary, row_group_size=max(1, len(rows)), **_WRITE_OPTIONS)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def partitions(folder: Path) -> list[Path]:
    """The finished partitions of an atlas folder, in atlas order."""
    return sorted(p for p in Path(folder).glob(f"t*-e*-*{SUFFIX}") if not p.name.startswith("."))


def read_column(path: Path, column: str) -> list:
    """One column of one partition, as Python values."""
    return pq.read_table(path, columns=[column]).column(column).to_pylist()


def load(path: str | os.PathLike | None = None):
    """The atlas as a pandas DataFrame, one row per mechanism, in atlas order.

    ``path`` is an atlas folder written by ``polyth atlas build`` (default: the atlas shipped
    with polyth: :data:`SHIPPED_BUILDS`, the graphs up to t = 5 and the hypergraphs up to
    t = 4). The columns are those of
    :data:`polyth.atlas.columns.COLUMNS`.
    """
    folder = SHIPPED if path is None else Path(path)
    if not folder.is_dir():
        raise PolyError(f"no atlas folder at {folder}: build one with 'polyth atlas build --out {folder}'")
    files = partitions(folder)
    if not files:
        raise PolyError(
            f"{folder} holds no atlas partitions (t*-e*-*.parquet): build it with 'polyth atlas build'"
        )
    tables = [pq.read_table(p) for p in files]
    try:
        table = pa.concat_tables(tables)
    except pa.ArrowInvalid as exc:
        raise PolyError(
            f"the partitions in {folder} have different columns; rebuild it into a new folder"
        ) from exc
    return table.to_pandas()
