"""The `allocast` command line: one typer app, a thin shell over the packages' functions.

`serving` is the only package that sees both halves, so the top-level app lives here and each
package contributes its commands through a `register(app)` function of its own `cli` module.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="allocast",
    help="Demand forecasting and inventory allocation for regional, forward warehouses and distributors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_all(target: typer.Typer) -> None:
    from forecasting import cli as forecasting_cli

    forecasting_cli.register(target)
    try:
        from allocation import cli as allocation_cli
    except ImportError:  # allocation's CLI lands in its own issue
        pass
    else:
        allocation_cli.register(target)
    try:
        from serving import commands as serving_commands
    except ImportError:  # the service's commands land in their own issue
        pass
    else:
        serving_commands.register(target)
    from serving import simulation as serving_simulation

    serving_simulation.register(target)


_register_all(app)

if __name__ == "__main__":
    app()
