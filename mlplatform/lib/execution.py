"""How steps run: the executors `MLPLATFORM_EXECUTOR` chooses from (register a new one here)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dagster import (
    EnvVar,
    Executor,
    ExecutorDefinition,
    in_process_executor,
    multiprocess_executor,
)

from mlplatform.choices import Registry

if TYPE_CHECKING:
    from mlplatform.settings import Secret, Settings


def _celery(settings: Settings) -> ExecutorDefinition:
    """Steps as Celery tasks, run by whichever `dagster-celery worker` is free.

    Tasks are acknowledged after they finish, so a task whose worker dies goes back to the
    broker and another worker runs the step again.
    """
    from dagster_celery import celery_executor

    config = {"config_source": {"task_acks_late": True, "task_reject_on_worker_lost": True}}
    # Unset: dagster-celery's defaults, RabbitMQ on localhost and the rpc:// result backend.
    for key, value in (("broker", settings.celery_broker), ("backend", settings.celery_backend)):
        if value is not None:
            config[key] = as_string_source(value)
    return celery_executor.configured(config)


def as_string_source(value: Secret) -> dict[str, str] | str:
    """Executor config takes a secret as `{"env": name}`, Dagster's StringSource."""
    return {"env": value.env_var_name} if isinstance(value, EnvVar) else value


# The machine a run's process runs on: `mlplatform recover` judges only its own host's runs.
HOST_TAG = "mlplatform/host"


class _RecordingHost(Executor):
    """Tags the run with its host, then runs the plan with the executor it wraps."""

    def __init__(self, inner: Executor) -> None:
        self._inner = inner

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[Any]:
        plan_context.instance.add_run_tags(plan_context.run_id, {HOST_TAG: socket.gethostname()})
        yield from self._inner.execute(plan_context, execution_plan)

    @property
    def retries(self) -> Any:
        return self._inner.retries

    @property
    def step_dependency_config(self) -> Any:
        return self._inner.step_dependency_config

    def __getattr__(self, name: str) -> Any:
        # The executor's own API (dagster-celery reads `app_args()` from the run's executor).
        return getattr(self._inner, name)


def recording_host(definition: ExecutorDefinition) -> ExecutorDefinition:
    """`definition` (configured or not) whose runs record their host in `HOST_TAG`."""
    create = definition.executor_creation_fn
    assert create is not None, f"executor {definition.name} has no creation function"
    return ExecutorDefinition(
        name=definition.name,
        config_schema=definition.config_schema,
        executor_creation_fn=lambda context: _RecordingHost(create(context)),
        description=definition.description,
        requirements=definition.get_requirements,
    )


EXECUTORS: Registry[Callable[[Settings], ExecutorDefinition]] = Registry(
    "MLPLATFORM_EXECUTOR",
    {
        "in_process": lambda _: in_process_executor,  # default: fastest on one machine
        "multiprocess": lambda _: multiprocess_executor,  # parallel steps, limited by the pools
        "celery": _celery,  # steps spread over worker processes or machines
    },
)
