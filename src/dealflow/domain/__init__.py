"""The pure core of dealflow: pipelines, stages, deals and the rules that move them.

Nothing here touches the database, the web or the clock: callers pass ``now`` in.
"""
from dealflow.domain.stages import Pipeline, Stage, StageKind, stage_kind_from_name
from dealflow.domain.deals import DealStatus, StageMove, plan_stage_move
from dealflow.domain.names import match_name, normalize_name
from dealflow.domain.periods import Period, parse_period

__all__ = [
    "DealStatus",
    "Period",
    "Pipeline",
    "Stage",
    "StageKind",
    "StageMove",
    "match_name",
    "normalize_name",
    "parse_period",
    "plan_stage_move",
    "stage_kind_from_name",
]
