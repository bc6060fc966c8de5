"""How steps run: the executors `MLPLATFORM_EXECUTOR` chooses from (register a new one here)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from dagster import EnvVar, ExecutorDefinition, in_process_executor, multiprocess_executor

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


EXECUTORS: Registry[Callable[[Settings], ExecutorDefinition]] = Registry(
    "MLPLATFORM_EXECUTOR",
    {
        "in_process": lambda _: in_process_executor,  # default: fastest on one machine
        "multiprocess": lambda _: multiprocess_executor,  # parallel steps, limited by the pools
        "celery": _celery,  # steps spread over worker processes or machines
    },
)
