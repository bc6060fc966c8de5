"""How steps run: the executor and the pool that serialises writers of the DuckDB file."""

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

# DuckDB allows one writer per file: every step that opens the warehouse joins this pool,
# limited to one slot in dagster.yaml.
WAREHOUSE_POOL = "warehouse"


def executor_for(name: str) -> ExecutorDefinition:
    """`in_process` (default, fastest here) or `multiprocess` (steps in parallel, pool-limited)."""
    return {"in_process": in_process_executor, "multiprocess": multiprocess_executor}[name]
