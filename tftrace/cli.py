"""The `tftrace` command: parse options, make one library call, render, exit.

Exit codes (as `diff`): 0 equivalent / nothing found, 1 divergence / findings,
2 usage error or unreadable input. Errors are one line on stderr, never a traceback.
Importing this module never imports TensorFlow; `record` imports it when it runs.
"""

from __future__ import annotations

from typing import Any

import click

from tftrace.errors import TftraceError

EXIT_OK, EXIT_FOUND, EXIT_ERROR = 0, 1, 2


class TftraceGroup(click.Group):
    """Turns every :class:`TftraceError` and unreadable-file error into exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TftraceError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(EXIT_ERROR)
        except OSError as exc:  # permission denied, disk full, ... on the user's paths
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            click.echo(f"Error: {where}{exc.strerror or exc}", err=True)
            ctx.exit(EXIT_ERROR)


@click.group(cls=TftraceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tftrace", prog_name="tftrace")
def cli() -> None:
    """Record TensorFlow runs into traces and find where two runs first diverge."""


@cli.command()
@click.argument("trace", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of text.")
def show(trace: str, as_json: bool) -> None:
    """Environment, counts per kind, and the table of events of TRACE."""
    from tftrace.format.reader import open_trace
    from tftrace.report.show import show_json, show_text

    with open_trace(trace) as t:
        click.echo(show_json(t) if as_json else show_text(t))


@cli.command()
@click.argument("trace", type=click.Path())
@click.argument("name")
@click.option("--step", type=int, default=0, show_default=True, help="Training step.")
@click.option("--occurrence", type=int, default=0, show_default=True,
              help="Which of several events with the same name in the step.")
@click.option("--kind", type=click.Choice(["variable", "random_op", "endpoint", "snapshot"]),
              default=None, help="Event kind, when several kinds share the name.")
def cat(trace: str, name: str, step: int, occurrence: int, kind: str | None) -> None:
    """One recorded array of TRACE and its statistics."""
    from tftrace.format.reader import open_trace
    from tftrace.report.show import cat_text

    with open_trace(trace) as t:
        event = t.event(name, step=step, occurrence=occurrence, kind=kind)
        values = t.array(event) if event.stored else None
        click.echo(cat_text(t, event, values))


@cli.command()
@click.argument("trace", type=click.Path())
@click.argument("out", type=click.Path())
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def pack(trace: str, out: str, overwrite: bool) -> None:
    """Write TRACE as the single file OUT (*.zarr.zip), to archive or attach to CI."""
    from tftrace.format.pack import pack_trace

    click.echo(str(pack_trace(trace, out, overwrite=overwrite)))


main = cli
