"""Every Cloudflare limit and default cfemu enforces, as named constants in one place.

Values are production's (see ``shared/spec``), not Miniflare's: where the two differ the
spec marks an "MF delta" and cfemu follows production.
"""

from __future__ import annotations

from typing import Final

# --- Queues: consumer settings (spec: queues.md §2) -------------------------------------
DEFAULT_MAX_BATCH_SIZE: Final = 10
MIN_MAX_BATCH_SIZE: Final = 1
MAX_MAX_BATCH_SIZE: Final = 100

DEFAULT_MAX_BATCH_TIMEOUT: Final = 5.0  # seconds
MIN_MAX_BATCH_TIMEOUT: Final = 0.0
MAX_MAX_BATCH_TIMEOUT: Final = 60.0

DEFAULT_MAX_RETRIES: Final = 3
MIN_MAX_RETRIES: Final = 0
MAX_MAX_RETRIES: Final = 100

MIN_MAX_CONCURRENCY: Final = 1
MAX_MAX_CONCURRENCY: Final = 250
#: Batches of one queue in flight at once when ``max_concurrency`` is unset. Production
#: autoscales up to 250; the emulator delivers one batch at a time unless configured, so
#: that local runs are deterministic (documented in docs/queues.md).
DEFAULT_EMULATED_MAX_CONCURRENCY: Final = 1

# --- Queues: delays (send, retry, producer delivery_delay, consumer retry_delay) ---------
MIN_DELAY_SECONDS: Final = 0
MAX_DELAY_SECONDS: Final = 43_200  # 12 hours

#: ``visibility_timeout_ms`` of a consumer (pull consumers' lease): at most 12 hours.
MIN_VISIBILITY_TIMEOUT_MS: Final = 0
MAX_VISIBILITY_TIMEOUT_MS: Final = 43_200_000

#: Wall-clock time a consumer invocation may run ("Consumer duration (wall clock time):
#: 15 minutes", spec: queues.md §2); past it the invocation ends and the attempt failed.
CONSUMER_WALL_CLOCK_LIMIT_SECONDS: Final = 15 * 60.0

# --- Queues: message and batch sizes (1 KB = 1000 bytes) --------------------------------
MAX_MESSAGE_BYTES: Final = 128_000
MAX_BATCH_MESSAGES: Final = 100
MAX_BATCH_BYTES: Final = 256_000

# --- Queues: names ---------------------------------------------------------------------
MAX_QUEUE_NAME_LENGTH: Final = 63
#: Queue names: lowercase letters, digits and dashes, not starting or ending with a dash.
QUEUE_NAME_PATTERN: Final = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"

# --- Workers -----------------------------------------------------------------------------
WORKER_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
#: Request body limit of Cloudflare's free plan (bytes). Larger bodies get a 413.
DEFAULT_MAX_REQUEST_BODY_BYTES: Final = 100 * 1024 * 1024
DEFAULT_DEV_IP: Final = "127.0.0.1"
DEFAULT_DEV_PORT: Final = 8787
MIN_DEV_PORT: Final = 0
MAX_DEV_PORT: Final = 65_535
#: ``name`` in a wrangler config: lowercase letters, digits, ``_`` and ``-`` (wrangler rejects
#: upper case; it also lets spaces through, which no deployable Worker name contains).
CONFIG_WORKER_NAME_PATTERN: Final = r"^[a-z0-9_][a-z0-9_-]*$"
#: ``compatibility_date`` in a wrangler config.
COMPATIBILITY_DATE_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}$"

# --- D1 (spec: d1.md §6) ---------------------------------------------------------------------
D1_MAX_BOUND_PARAMETERS: Final = 100
D1_MAX_SQL_BYTES: Final = 100_000
D1_MAX_VALUE_BYTES: Final = 2_000_000  # strings, BLOBs and rows
D1_MAX_COLUMNS: Final = 100
D1_MAX_FUNCTION_ARGS: Final = 32
D1_MAX_LIKE_PATTERN_BYTES: Final = 50
D1_MAX_COMPOUND_SELECT: Final = 5
D1_MAX_TRIGGER_DEPTH: Final = 10
D1_MAX_EXPR_DEPTH: Final = 100
#: How long one query (or one ``batch()``/``exec()``) may run: "Query duration: 30 s".
D1_MAX_QUERY_SECONDS: Final = 30.0
D1_DEFAULT_MIGRATIONS_DIR: Final = "migrations"
D1_DEFAULT_MIGRATIONS_TABLE: Final = "d1_migrations"
D1_SERVED_BY: Final = "cfemu.db"
#: ``meta.served_by_region`` and ``meta.served_by_colo``: cfemu runs on this machine, not in
#: a Cloudflare region or colo (production gives a location hint such as ``"WEUR"`` and an
#: airport code), so both say ``"local"`` (docs/d1.md, "Results").
D1_SERVED_BY_LOCATION: Final = "local"
#: Range of integers D1 accepts as bind values (JavaScript numbers in a signed 64-bit slot).
D1_MIN_INTEGER: Final = -(2**63)
D1_MAX_INTEGER: Final = 2**63 - 1

# --- Workers KV (spec: kv-assets-workflows-ai.md §1.2) -----------------------------------------
KV_MAX_KEY_BYTES: Final = 512
KV_MAX_VALUE_BYTES: Final = 25 * 1024 * 1024  # 26214400
KV_MAX_METADATA_BYTES: Final = 1024
#: ``expirationTtl`` and ``expiration`` must be at least this many seconds in the future.
KV_MIN_EXPIRATION_TTL: Final = 60
#: ``cacheTtl``: the limits page says 30 s, the read page 60 s (unconfirmed); cfemu uses 30.
KV_MIN_CACHE_TTL: Final = 30
KV_MAX_LIST_LIMIT: Final = 1000
KV_MAX_BULK_KEYS: Final = 100
#: Bulk get: the values returned may add up to at most 25 MB.
KV_MAX_BULK_BYTES: Final = 25 * 1024 * 1024

# --- Durable Objects (spec: durable-objects.md §4, §5.3, §6, §7) ---------------------------
#: Key + value of the key-value API on SQLite-backed objects ("2 MB combined").
DO_MAX_KEY_VALUE_BYTES: Final = 2_000_000
#: KV-backed classes (``new_classes``): key and value sizes, keys per call; the value check
#: allows 34 bytes of slack (the serialization header).
DO_KV_BACKED_MAX_KEY_BYTES: Final = 2048
DO_KV_BACKED_MAX_VALUE_BYTES: Final = 128 * 1024
DO_KV_BACKED_VALUE_SLACK_BYTES: Final = 34
DO_KV_BACKED_MAX_KEYS: Final = 128
#: Nesting depth of ``blockConcurrencyWhile`` sections.
DO_MAX_BLOCK_CONCURRENCY_DEPTH: Final = 64
#: Seconds a ``blockConcurrencyWhile`` callback may run before the object is reset.
DO_BLOCK_CONCURRENCY_TIMEOUT_SECONDS: Final = 30.0
#: Seconds of inactivity after which local workerd evicts an object.
DO_IDLE_EVICTION_SECONDS: Final = 10.0
#: Alarm retries: the first delay, how many failures count, and the cap of uncounted ones.
DO_ALARM_FIRST_RETRY_SECONDS: Final = 2.0
DO_ALARM_MAX_RETRIES: Final = 6
DO_ALARM_MAX_JITTER: Final = 0.25
#: Compatibility date from which ``deleteAll()`` also deletes the alarm.
DO_DELETE_ALL_DELETES_ALARM_DATE: Final = "2026-02-24"

# --- Workflows (spec: kv-assets-workflows-ai.md §3.1, §3.4, §3.5, §3.8) --------------------
#: A Workflow's name: at most this many characters.
WORKFLOW_MAX_NAME_LENGTH: Final = 64
#: Steps per instance: the default (``[[workflows]] limits.steps``) and its maximum.
WORKFLOW_DEFAULT_STEPS: Final = 10_000
WORKFLOW_MAX_STEPS_LIMIT: Final = 25_000
#: A step's result and an event's payload, serialized (JSON bytes).
WORKFLOW_MAX_STEP_RESULT_BYTES: Final = 1024 * 1024
WORKFLOW_MAX_EVENT_PAYLOAD_BYTES: Final = 1024 * 1024
#: An instance's stored state (step results, sleeps, events): local wrangler's 1 GiB.
WORKFLOW_MAX_INSTANCE_STATE_BYTES: Final = 1024 * 1024 * 1024
#: ``deleteBatch`` takes at most this many ids.
WORKFLOW_MAX_DELETE_BATCH: Final = 100
#: Instance ids: at most this many characters of ``[a-zA-Z0-9_-]``.
WORKFLOW_MAX_INSTANCE_ID_LENGTH: Final = 100
#: Step names: at most this many characters, no control characters.
WORKFLOW_MAX_STEP_NAME_LENGTH: Final = 256
#: ``create_batch``: at most this many instances a call.
WORKFLOW_MAX_BATCH: Final = 100
#: The longest ``step.sleep``, in milliseconds (365 days).
WORKFLOW_MAX_SLEEP_MS: Final = 365 * 24 * 3600 * 1000
#: Step config defaults: retries limit, delay (ms), backoff; per-attempt timeout (ms).
WORKFLOW_DEFAULT_RETRY_LIMIT: Final = 5
WORKFLOW_DEFAULT_RETRY_DELAY_MS: Final = 10_000
WORKFLOW_DEFAULT_BACKOFF: Final = "exponential"
WORKFLOW_DEFAULT_STEP_TIMEOUT_MS: Final = 10 * 60 * 1000
#: ``wait_for_event``'s default timeout (ms): 24 hours.
WORKFLOW_DEFAULT_EVENT_TIMEOUT_MS: Final = 24 * 3600 * 1000
