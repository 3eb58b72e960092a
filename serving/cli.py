"""The `allocast` command line: one typer app, a thin shell over the packages' functions.

`serving` is the only package that sees both halves, so the top-level app lives here and each
package contributes its commands through a `register(app)` function of its own `cli` module.
"""

from __future__ import annotations

import typer

from allocation import cli as allocation_cli
from forecasting import cli as forecasting_cli
from serving import commands as serving_commands
from serving import simulation as serving_simulation

app = typer.Typer(
    name="allocast",
    help="Demand forecasting and inventory allocation for regional and forward warehouses "
    "and tiered distributors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (forecasting_cli, allocation_cli, serving_commands, serving_simulation):
    module.register(app)

if __name__ == "__main__":
    app()
