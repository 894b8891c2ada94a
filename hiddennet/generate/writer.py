"""Chunked table writer (CSV or Parquet, every column text)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from hiddennet.generate.constants import _CHUNK


class _Writer:
    """Writes tables chunk by chunk (CSV: pyarrow CSVWriter; Parquet: ParquetWriter), all columns text."""

    def __init__(self, out: Path, fmt: str):
        self.out, self.fmt = out, fmt
        self.open: dict[str, pacsv.CSVWriter | pq.ParquetWriter] = {}
        self.cols: dict[str, list[str]] = {}

    def path(self, name: str) -> Path:
        return self.out / f"{name}.{self.fmt}"

    def write(self, name: str, columns: dict[str, pa.Array]):
        schema = pa.schema([(k, pa.string()) for k in columns])
        batch = pa.table({k: v.cast(pa.string()) if v.type != pa.string() else v for k, v in columns.items()},
                         schema=schema)
        if name not in self.open:
            if self.fmt == "csv":
                self.open[name] = pacsv.CSVWriter(str(self.path(name)), schema,
                                                  write_options=pacsv.WriteOptions(quoting_style="needed"))
            else:
                self.open[name] = pq.ParquetWriter(str(self.path(name)), schema, compression="zstd")
            self.cols[name] = list(columns)
        for off in range(0, max(batch.num_rows, 1), _CHUNK):
            self.open[name].write_table(batch.slice(off, _CHUNK))

    def close(self, name: str):
        self.open.pop(name).close()
