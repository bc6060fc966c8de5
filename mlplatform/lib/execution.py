"""How steps run: the executor a setting names."""

from collections.abc import Callable

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

from mlplatform.settings import CELERY_BACKEND_VAR, CELERY_BROKER_VAR, Settings


def _celery(settings: Settings) -> ExecutorDefinition:
    """Steps as Celery tasks, run by whichever `dagster-celery worker` is free.

    Tasks are acknowledged after they finish, so a task whose worker dies goes back to the
    broker and another worker runs the step again.
    """
    from dagster_celery import celery_executor

    config = {"config_source": {"task_acks_late": True, "task_reject_on_worker_lost": True}}
    # Unset: dagster-celery's defaults, RabbitMQ on localhost and the rpc:// result backend.
    if settings.celery_broker:
        config["broker"] = {"env": CELERY_BROKER_VAR}
    if settings.celery_backend:
        config["backend"] = {"env": CELERY_BACKEND_VAR}
    return celery_executor.configured(config)


EXECUTORS: dict[str, Callable[[Settings], ExecutorDefinition]] = {
    "in_process": lambda _: in_process_executor,  # default: fastest on one machine
    "multiprocess": lambda _: multiprocess_executor,  # parallel steps, limited by the pools
    "celery": _celery,  # steps spread over worker processes or machines
}
