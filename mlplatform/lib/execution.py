"""How steps run: the executor a setting names."""

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

EXECUTORS: dict[str, ExecutorDefinition] = {
    "in_process": in_process_executor,  # default: fastest here (bench/executor_choice.py)
    "multiprocess": multiprocess_executor,  # steps in parallel, limited by the instance's pools
}
