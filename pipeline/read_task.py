"""The read task: a Ray Data UDF that turns input files into document batches.

Each task reads whole files (one file per task, so a cluster reads as many files at once as
it has CPUs); the readers turn every record into a row, a document or a read rejection.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from prep.core.records import READ_STAGE
from prep.pipeline import source_metadata
from prep.pipeline.accounting import attach_counts, count_batch
from prep.pipeline.config import SourceConfig
from prep.pipeline.failures import StepFailed
from prep.pipeline.sources import InputFile


def read_files(tasks: pa.Table, sources: list[dict], batch_rows: int) -> Iterator[pa.Table]:
    """Ray Data UDF: read the files named in `tasks` and yield document batches, each with the
    read step's counts of its rows attached (`accounting.attach_counts`)."""
    from prep.pipeline.readers import read_file  # trafilatura: only in workers

    configs = [SourceConfig.model_validate(s) for s in sources]
    for row in tasks.to_pylist():
        file = InputFile(url=row["url"], relpath=row["relpath"], size=row["size"], mtime=row["mtime"])
        source = configs[row["source_index"]]
        try:
            for table in read_file(file, source, batch_rows=batch_rows):
                counts = count_batch(table, table, table.column("_rule").to_pylist())
                kinds = source_metadata.kinds(table) if source.metadata_fields is not None else {}
                metrics = {source_metadata.KINDS_METRIC: kinds} if kinds else {}
                yield attach_counts(table, {READ_STAGE: (counts, metrics)})
        except Exception as exc:  # what the readers do not turn into rejections is a bug
            raise StepFailed.of(READ_STAGE, f"file {file.relpath} of source {source.name}", exc) from exc
