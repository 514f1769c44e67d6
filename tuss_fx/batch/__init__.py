"""Batch jobs over many files: the job and its resumable JSON-lines manifest (jobs), local worker
processes (local), a Ray cluster (ray_cluster). The public names are re-exported here:
`from tuss_fx.batch import BatchJob, collect_inputs, run_batch`.

Floor 7: may import mix and everything below it.
"""

from tuss_fx.batch.jobs import BatchError, BatchJob, collect_inputs
from tuss_fx.batch.local import BatchSummary, run_batch

__all__ = ["BatchError", "BatchJob", "BatchSummary", "collect_inputs", "run_batch"]
