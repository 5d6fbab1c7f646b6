"""cfemu's testing toolkit (see ``docs/testing.md``).

- The pytest plugin (:mod:`cfemu.testing.plugin`, loaded automatically): fixtures
  ``emulator``, ``env`` and ``client``.
- Helpers with ``@cloudflare/vitest-pool-workers``' meaning, in Python names:
  :func:`create_execution_context`, :func:`wait_on_execution_context`,
  :func:`create_message_batch`, :func:`get_queue_result`, :func:`create_scheduled_controller`,
  :func:`read_d1_migrations`, :func:`apply_d1_migrations`, :func:`reset`, and for Durable
  Objects :func:`run_in_durable_object`, :func:`run_durable_object_alarm`,
  :func:`list_durable_object_ids` (plus :func:`evict_durable_object`), and for Workflows
  :func:`introspect_workflow_instance` and :func:`introspect_workflow`.
- Fault injection: :class:`Faults` (``emulator.faults``), :class:`FaultRule`,
  :class:`InjectedCrashError`.
- Hypothesis strategies in :mod:`cfemu.testing.strategies` (imported on demand: hypothesis
  is a test dependency, not a runtime one).
"""

from __future__ import annotations

from cfemu._faults import FaultRule, Faults, InjectedCrashError
from cfemu.durable_objects.tools import (
    evict_durable_object,
    list_durable_object_ids,
    run_durable_object_alarm,
    run_in_durable_object,
)
from cfemu.testing._d1 import D1Migration, apply_d1_migrations, read_d1_migrations
from cfemu.testing._events import (
    QueueResult,
    create_execution_context,
    create_message_batch,
    create_scheduled_controller,
    get_queue_result,
    wait_on_execution_context,
)
from cfemu.testing._reset import apply_all_migrations, reset
from cfemu.testing._workflows import (
    WorkflowInstanceIntrospector,
    WorkflowIntrospector,
    introspect_workflow,
    introspect_workflow_instance,
)

__all__ = [
    "D1Migration",
    "FaultRule",
    "Faults",
    "InjectedCrashError",
    "QueueResult",
    "WorkflowInstanceIntrospector",
    "WorkflowIntrospector",
    "apply_all_migrations",
    "apply_d1_migrations",
    "create_execution_context",
    "create_message_batch",
    "create_scheduled_controller",
    "evict_durable_object",
    "get_queue_result",
    "introspect_workflow",
    "introspect_workflow_instance",
    "list_durable_object_ids",
    "read_d1_migrations",
    "reset",
    "run_durable_object_alarm",
    "run_in_durable_object",
    "wait_on_execution_context",
]
