"""allocation: turn demand quantiles, a network, stock positions and a policy into a plan.

Takes demand as a frame (the forecast contract); never imports forecasting/, serving/, mlflow or
fastapi.
"""

from allocation.errors import AllocationError, AllocationInputError, SolverError
from allocation.inputs import (
    demand_in_network,
    load_demand,
    load_stock,
    require_readable_periods,
    validate_demand,
    validate_stock,
)
from allocation.network import Network, load_network, parse_network
from allocation.plan import Plan, SolverFacts, write_plan
from allocation.planner import plan
from allocation.policy import Policy, load_policy, parse_policy

__all__ = [
    "AllocationError",
    "AllocationInputError",
    "Network",
    "Plan",
    "Policy",
    "SolverError",
    "SolverFacts",
    "demand_in_network",
    "load_demand",
    "load_network",
    "load_policy",
    "load_stock",
    "parse_network",
    "parse_policy",
    "plan",
    "require_readable_periods",
    "validate_demand",
    "validate_stock",
    "write_plan",
]
