"""Projections: read models computed from events, one module per job.

- `base`: the `Projection` base class and the contract of `apply` (read its docstring first);
- `registry`: registered projections by name;
- `upsert`: guarded bulk upserts and how Python values are sent for them (JSON included);
- `catalogue`: what PostgreSQL's catalogue says about a table (column types, cached;
  indexes, foreign keys, dependent views for the rebuild's swap);
- `checkpoints`: each projection's checkpoint, lag and status;
- `runner`: the inline receiver of `events_appended` and the catch-up runner.

Rebuilding and verifying a projection's table live beside this package, in
`eventstore.rebuild` and `eventstore.verify`. The names below are the public ones; import
them from `eventstore.projections`.
"""

from __future__ import annotations

from .base import Projection
from .catalogue import TableInfo, forget_table_types, table_info
from .checkpoints import (
    Checkpoint,
    ProjectionStatus,
    checkpoint_get,
    checkpoint_set,
    projection_lag,
    projection_status,
)
from .registry import (
    get_projection,
    projection_registry,
    projections_with_tables,
    register_projection,
    unregister_projection,
)
from .runner import projection_lock, run_inline_projections, run_projection
from .upsert import Row, upsert_guarded

__all__ = [
    "Checkpoint",
    "Projection",
    "ProjectionStatus",
    "Row",
    "TableInfo",
    "checkpoint_get",
    "checkpoint_set",
    "forget_table_types",
    "get_projection",
    "projection_lag",
    "projection_lock",
    "projection_registry",
    "projection_status",
    "projections_with_tables",
    "register_projection",
    "run_inline_projections",
    "run_projection",
    "table_info",
    "unregister_projection",
    "upsert_guarded",
]
