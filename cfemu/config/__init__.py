"""Wrangler configuration: ``wrangler.toml``/``.json``/``.jsonc`` → validated models.

``load_config("wrangler.toml", environment="staging")`` returns a :class:`WorkerConfig`;
every problem is a :class:`cfemu.errors.ConfigError` naming the file and key path. See
``docs/config.md`` for the supported keys, defaults, ranges and error messages.
"""

from __future__ import annotations

from cfemu.config.dev_vars import dev_vars_files, load_dev_vars, parse_dotenv
from cfemu.config.loader import CONFIG_FILE_NAMES, ConfigWarning, find_config, load_config
from cfemu.config.models import (
    DEFAULT_WORKER_NAME,
    AiConfig,
    AssetsConfig,
    D1DatabaseConfig,
    DevConfig,
    DurableObjectBindingConfig,
    DurableObjectsConfig,
    KvNamespaceConfig,
    MigrationConfig,
    QueueConsumerConfig,
    QueueProducerConfig,
    QueuesConfig,
    SecretsConfig,
    TriggersConfig,
    WorkerConfig,
    WorkflowConfig,
    WorkflowLimitsConfig,
)

__all__ = [
    "CONFIG_FILE_NAMES",
    "DEFAULT_WORKER_NAME",
    "AiConfig",
    "AssetsConfig",
    "ConfigWarning",
    "D1DatabaseConfig",
    "DevConfig",
    "DurableObjectBindingConfig",
    "DurableObjectsConfig",
    "KvNamespaceConfig",
    "MigrationConfig",
    "QueueConsumerConfig",
    "QueueProducerConfig",
    "QueuesConfig",
    "SecretsConfig",
    "TriggersConfig",
    "WorkerConfig",
    "WorkflowConfig",
    "WorkflowLimitsConfig",
    "dev_vars_files",
    "find_config",
    "load_config",
    "load_dev_vars",
    "parse_dotenv",
]
