"""The `tftrace` command: parse options, make one library call, render, exit.

Exit codes (as `diff`): 0 equivalent / nothing found, 1 divergence / findings,
2 usage error or unreadable input. Errors are one line on stderr, never a traceback.
Importing this module never imports TensorFlow; `record` imports it when it runs.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from tftrace.compare.tolerance import DEFAULT_ATOL, DEFAULT_RTOL
from tftrace.format.events import LEVELS
from tftrace.errors import TftraceError

EXIT_OK, EXIT_FOUND, EXIT_ERROR = 0, 1, 2
#: Diverging pairs diagnosed one by one with --all (each reads at most two arrays of 4 Mi
#: elements and a 16-step series); later ones are listed without a diagnosis.
PAIR_DIAGNOSES = 32


class TftraceGroup(click.Group):
    """Turns every :class:`TftraceError` and unreadable-file error into exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        from tftrace.report.errors import error_line

        try:
            return super().invoke(ctx)
        except (TftraceError, OSError) as exc:  # OSError: permission denied, ... on the user's paths
            click.echo(error_line(exc), err=True)
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
    from tftrace.report.show import show_blocks, show_json

    with open_trace(trace) as t:
        for block in [show_json(t)] if as_json else show_blocks(t):
            click.echo(block)


@cli.command()
@click.argument("trace", type=click.Path())
@click.argument("name")
@click.option("--step", type=int, default=0, show_default=True, help="Training step.")
@click.option("--occurrence", type=int, default=0, show_default=True,
              help="Which of several events with the same name in the step.")
@click.option("--kind", type=click.Choice(["variable", "random_op", "endpoint", "snapshot"]),
              default=None, help="Event kind, when several kinds share the name.")
def cat(trace: str, name: str, step: int, occurrence: int, kind: str | None) -> None:
    """One recorded array of TRACE and its statistics.

    NAME may omit a variable's ``:0``; when several kinds have NAME at STEP (a variable's
    initial value and its snapshot), --kind says which.
    """
    from tftrace.format.reader import open_trace
    from tftrace.report.show import cat_text

    from tftrace.errors import UsageError
    from tftrace.report.show import ambiguous_name

    with open_trace(trace) as t:
        found = t.events_named(name, step=step, occurrence=occurrence, kind=kind)
        if len({ev.kind for ev in found}) > 1:
            raise UsageError(ambiguous_name(name, step, found))
        # Nothing under either spelling: the reader's error lists the steps it has.
        event = found[0] if found else t.event(name, step=step, occurrence=occurrence, kind=kind)
        values = t.array(event) if event.stored else None
        click.echo(cat_text(t, event, values))


@cli.command()
@click.argument("trace", type=click.Path())
@click.argument("out", type=click.Path())
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress bar on stderr (shown only on a terminal, after 2 s).")
def pack(trace: str, out: str, overwrite: bool, quiet: bool) -> None:
    """Write TRACE as the single file OUT (*.zarr.zip), to archive or attach to CI."""
    from tftrace.format.pack import pack_trace
    from tftrace.progress import TerminalProgress

    with TerminalProgress("pack", quiet=quiet) as progress:
        packed = pack_trace(trace, out, overwrite=overwrite, progress=progress)
    click.echo(str(packed))


def _emit(text: str, output: str | None) -> None:
    """Write a report to OUTPUT, or stdout."""
    if output is None:
        click.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)


def _use_colour(output: str | None) -> bool:
    return output is None and sys.stdout.isatty()


def _compare_options(command: Any) -> Any:
    """The options `diff` and `explain` share: tolerances, renames, what to compare."""
    options = [
        click.option("--rtol", type=float, default=DEFAULT_RTOL, show_default=True,
                     help="Relative tolerance for floats: |a - b| <= atol + rtol * |a| (A is the "
                          "reference)."),
        click.option("--atol", type=float, default=DEFAULT_ATOL, show_default=True,
                     help="Absolute tolerance for floats."),
        click.option("--tol", "tolerances", multiple=True, metavar="GLOB=RTOL,ATOL",
                     help="Tolerance for names matching GLOB, e.g. 'grads/*=1e-4,1e-4'. Repeatable; "
                          "the last match wins."),
        click.option("--tolerances", "tolerances_file", type=click.Path(), default=None,
                     metavar="TOL.json", help="Per-name tolerances from `tftrace calibrate` "
                                              "(applied before --tol rules)."),
        click.option("--rename", multiple=True, metavar="REGEX=REPL",
                     help="Rename B's variables and snapshots (re.sub), e.g. '^model/='. "
                          "Repeatable, applied in order."),
        click.option("--ignore", multiple=True, metavar="GLOB",
                     help="Leave out events whose name matches GLOB (both traces, every kind), "
                          "e.g. 'loss/*'. Repeatable; counted in the summary."),
        click.option("--only", default=None, metavar="KINDS",
                     help="Compare only these kinds: comma-separated among variables, random, "
                          "endpoints, snapshots, layers, ops, gradients, optimizer, "
                          "optimizer-state."),
        click.option("--all", "show_all", is_flag=True,
                     help="List every pair with its status and errors, and diagnose each "
                          f"diverging pair (the first {PAIR_DIAGNOSES})."),
        click.option("--first", "stop_at_first", is_flag=True,
                     help="Stop reading values at the first divergence (fast; later pairs are "
                          "'skipped')."),
        click.option("--allow-incomplete", is_flag=True,
                     help="Accept a run that did not complete (raised, interrupted, killed): "
                          "compare its events up to its end and exit 0 if they match, saying so."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _comparison(rtol: float, atol: float, tolerances: tuple[str, ...], tolerances_file: str | None,
                rename: tuple[str, ...], ignore: tuple[str, ...], only: str | None,
                show_all: bool, stop_at_first: bool, allow_incomplete: bool) -> dict[str, Any]:
    """The shared options as keyword arguments of `tftrace.diff`."""
    return {"rtol": rtol, "atol": atol, "tolerances": tolerances, "tolerances_file": tolerances_file,
            "rename": rename, "ignore": ignore, "only": only, "stop_at_first": stop_at_first,
            "allow_incomplete": allow_incomplete, "explain_pairs": PAIR_DIAGNOSES if show_all else 0}


def _render(result: Any, fmt: str, show_all: bool, output: str | None, traces: tuple[str, str]) -> str:
    if fmt == "json":
        from tftrace.report.json import render_json
        return render_json(result)
    if fmt == "junit":
        from tftrace.report.junit import render_junit
        return render_junit(result)
    if fmt == "html":
        from tftrace.report.html import render_html
        return render_html(result, traces=traces)
    from tftrace.report.text import render_text
    return render_text(result, show_all=show_all, color=_use_colour(output))


@cli.command()
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@_compare_options
@click.option("--no-diagnosis", is_flag=True,
              help="Skip the diagnosis (relationships and pitfalls): it reads the values of "
                   "the first divergence, a series of at most 16 steps and a few scalars again.")
@click.option("--dask", default=None, metavar="SCHEDULER",
              help="Run the value comparisons on a dask.distributed cluster: its address "
                   "(tcp://host:8786) or local:N for N local worker processes.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "html"]), default="text",
              show_default=True, help="Report format; html is one self-contained page (use -o).")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Write the report to FILE instead of stdout.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress bar on stderr (shown only on a terminal, after 2 s).")
@click.pass_context
def diff(ctx: click.Context, a: str, b: str, no_diagnosis: bool, dask: str | None, fmt: str,
         output: str | None, quiet: bool, **comparison: Any) -> None:
    """Compare trace B against trace A and report where they first diverge.

    A or B may name the traces of a multi-worker run: RUN.zarr for RUN.worker-K.zarr, or
    a pattern with {worker}; worker k is compared with worker k (docs/scale.md).

    Exit code 0 when equivalent; 1 on a divergence, a run that did not complete,
    nothing compared or a capture gap; 2 on a usage error or an unreadable trace.
    """
    from tftrace.compare.divergence import diff as diff_traces
    from tftrace.compare.workers import diff_workers, is_distributed
    from tftrace.progress import TerminalProgress

    options: dict[str, Any] = dict(dask=dask, explain=not no_diagnosis, **_comparison(**comparison))
    if is_distributed(a) or is_distributed(b):  # worker sets, replicas: docs/scale.md
        from tftrace.report.workers import render_workers

        with TerminalProgress("diff", quiet=quiet) as progress:
            workers = diff_workers(a, b, progress=progress, **options)
        _emit(render_workers(workers, fmt, show_all=comparison["show_all"],
                             color=_use_colour(output)), output)
        ctx.exit(EXIT_OK if workers.equivalent else EXIT_FOUND)
    with TerminalProgress("diff", quiet=quiet) as progress:
        result = diff_traces(a, b, progress=progress, **options)
    _emit(_render(result, fmt, comparison["show_all"], output, (a, b)), output)
    ctx.exit(EXIT_OK if result.equivalent else EXIT_FOUND)


@cli.command()
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@_compare_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "junit", "html"]), default="text",
              show_default=True, help="Report format; html is one self-contained page (use -o).")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Write the report to FILE instead of stdout.")
@click.pass_context
def explain(ctx: click.Context, a: str, b: str, fmt: str, output: str | None,
            **comparison: Any) -> None:
    """The diff of A and B with its diagnosis, and the isolation of the first diverging op:
    re-run eagerly on A's recorded inputs with A's and with B's attributes (this step, and
    only it, imports TensorFlow). Needs op capture (record --ops full).

    Exit codes as diff.
    """
    from tftrace.isolate.first_op import explain as explain_traces

    result = explain_traces(a, b, **_comparison(**comparison))
    _emit(_render(result, fmt, comparison["show_all"], output, (a, b)), output)
    ctx.exit(EXIT_OK if result.equivalent else EXIT_FOUND)


@cli.command()
@click.argument("trace", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Report format.")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Write the report to FILE instead of stdout.")
@click.pass_context
def check(ctx: click.Context, trace: str, fmt: str, output: str | None) -> None:
    """Lint one trace: late variables, frozen non-trainable variables, NaN/Inf,
    random ops sharing a seed, variables with identical initial values.

    Exit code 0 when nothing is found, 1 on findings, 2 on an unreadable trace.
    """
    from tftrace.lint import check as check_trace
    from tftrace.report.check import render_check_json, render_check_text

    result = check_trace(trace)
    report = render_check_json(result) if fmt == "json" else render_check_text(
        result, color=_use_colour(output))
    _emit(report, output)
    ctx.exit(EXIT_OK if result.ok else EXIT_FOUND)


@cli.command()
@click.argument("runs", nargs=-1, type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), metavar="TOL.json",
              help="The tolerances file to write.")
@click.option("--safety-factor", type=float, default=10.0, show_default=True,
              help="Limit per name = max(floor, factor x largest norm-relative spread).")
@click.option("--floor", "norm_floor", type=float, default=1e-5, show_default=True,
              help="Smallest norm-relative limit.")
@click.option("--rename", multiple=True, metavar="REGEX=REPL",
              help="Rename the other runs' variables (re.sub) as diff's --rename.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress bar on stderr (shown only on a terminal, after 2 s).")
def calibrate(runs: tuple[str, ...], output: str, safety_factor: float, norm_floor: float,
              rename: tuple[str, ...], quiet: bool) -> None:
    """Per-name tolerances from two or more recordings of the same program (the first is
    the reference): repeated runs, other thread settings, another machine, or runs whose
    initial weights differ by one ULP. Use the file with `tftrace diff --tolerances`.
    """
    from tftrace.compare.calibrate import calibrate as calibrate_runs
    from tftrace.report.calibrate import render_calibration

    from tftrace.progress import TerminalProgress

    with TerminalProgress("calibrate", quiet=quiet) as progress:
        result = calibrate_runs(runs, safety_factor=safety_factor, norm_floor=norm_floor,
                                rename=rename, progress=progress)
    result.write(output)
    click.echo(render_calibration(result, output), nl=False)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("-o", "--output", required=True, type=click.Path(),
              help="The trace to write: X.zarr (directory) or X.zarr.zip (one file).")
@click.option("--seed", type=int, default=42, show_default=True, help="Global random seed.")
@click.option("--seed-mode", type=click.Choice(["num_random_ops", "constant", "off"]),
              default="num_random_ops", show_default=True,
              help="How stateful random ops are seeded (as DeterministicRandomTestTool).")
@click.option("--capture", type=click.Choice(["full", "stats"]), default="full",
              show_default=True, help="'stats' keeps statistics and digests, no tensors.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--replay", "replay_source", type=click.Path(), default=None, metavar="A.zarr",
              help="Feed this trace's random values and initial variable values to the run.")
@click.option("--replay-random", type=click.Choice(["on", "off"]), default="on",
              show_default=True, help="With --replay: replay random values.")
@click.option("--replay-variables", type=click.Choice(["on", "off"]), default="on",
              show_default=True, help="With --replay: replay initial variable values.")
@click.option("--rename", multiple=True, metavar="REGEX=REPL",
              help="With --replay: rename the run's variables (re.sub) before looking them "
                   "up in A, as diff's --rename. Repeatable, applied in order.")
@click.option("--layers", type=click.Choice(LEVELS), default="stats", show_default=True,
              help="Every layer call's output.")
@click.option("--ops", type=click.Choice(LEVELS), default="off", show_default=True,
              help="Every op's floating-point outputs, with attributes and dataflow edges.")
@click.option("--gradients", type=click.Choice(LEVELS), default="stats", show_default=True,
              help="Each trainable variable's gradient per step.")
@click.option("--optimizer", type=click.Choice(LEVELS), default="full", show_default=True,
              help="The optimizer's hyperparameters per step (learning rate after its schedule...).")
@click.option("--op-scope", "op_scopes", multiple=True, metavar="GLOB",
              help="With --ops: only ops whose name (scope) matches GLOB, e.g. 'block3/*'. Repeatable.")
@click.option("--op-type", "op_types", multiple=True, metavar="GLOB",
              help="With --ops: only ops of a type matching GLOB, e.g. 'FusedBatchNorm*'. Repeatable.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress bar on stderr (shown only on a terminal, after 2 s).")
@click.option("--against", "against_trace", type=click.Path(), default=None, metavar="A.zarr",
              help="Compare the run with this trace while recording: keep values only where "
                   "it diverges (and --window events before), print diff's report, exit as diff.")
@click.option("--window", type=click.IntRange(min=0), default=32, show_default=True,
              help="With --against: events before the first divergence whose values are kept.")
@click.option("--stop-at-first-divergence", is_flag=True,
              help="With --against: end the run at its first divergence (the trace ends 'stopped').")
@click.option("--rtol", type=float, default=DEFAULT_RTOL, show_default=True,
              help="With --against: relative tolerance, as for diff.")
@click.option("--atol", type=float, default=DEFAULT_ATOL, show_default=True,
              help="With --against: absolute tolerance, as for diff.")
@click.option("--tol", "tolerances", multiple=True, metavar="GLOB=RTOL,ATOL",
              help="With --against: per-name tolerance, as for diff. Repeatable.")
@click.argument("script", type=click.Path())
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def record(ctx: click.Context, output: str, seed: int, seed_mode: str, capture: str,
           overwrite: bool, replay_source: str | None, replay_random: str,
           replay_variables: str, rename: tuple[str, ...], layers: str, ops: str,
           gradients: str, optimizer: str, op_scopes: tuple[str, ...], op_types: tuple[str, ...],
           quiet: bool, against_trace: str | None, window: int, stop_at_first_divergence: bool,
           rtol: float, atol: float, tolerances: tuple[str, ...], script: str,
           args: tuple[str, ...]) -> None:
    """Run SCRIPT (with ARGS) in this process, recording it into OUTPUT.

    The script runs as __main__ with sys.argv = [SCRIPT, *ARGS]; its exit status is
    tftrace's. The trace is complete even when the script raises. A replay that
    cannot go on (a random op that does not match A's) exits 2. With --against, a run
    that completes (or is stopped at its first divergence) exits as `tftrace diff A OUTPUT`:
    0 equivalent, 1 not.
    """
    from tftrace.recording.capture.sink import CaptureLevels
    from tftrace.recording.script import run_script

    if replay_source is None and against_trace is None and rename:
        raise click.UsageError("--rename needs --replay A.zarr or --against A.zarr")
    if replay_source is None and (replay_random != "on" or replay_variables != "on"):
        raise click.UsageError("--replay-random and --replay-variables need --replay A.zarr")
    if against_trace is None and stop_at_first_divergence:
        raise click.UsageError("--stop-at-first-divergence needs --against A.zarr")
    levels = CaptureLevels(layers=layers, ops=ops, gradients=gradients, optimizer=optimizer,
                           op_scopes=op_scopes, op_types=op_types)
    if against_trace is None:
        from tftrace.progress import TerminalProgress

        with TerminalProgress("record", quiet=quiet) as progress:
            status = run_script(script, args, output=output, seed=seed, seed_mode=seed_mode,
                                capture=capture, overwrite=overwrite, replay=replay_source,
                                replay_random=replay_random == "on",
                                replay_variables=replay_variables == "on", rename=rename,
                                levels=levels, progress=progress)
        ctx.exit(status)
    from tftrace.against import AgainstOptions, run_script_against

    options = AgainstOptions(against_trace, window=window, rtol=rtol, atol=atol,
                             tolerances=tolerances, rename=rename, report="stdout",
                             stop_at_first_divergence=stop_at_first_divergence)
    ctx.exit(run_script_against(script, args, output=output, options=options, replay=replay_source,
                                replay_random=replay_random == "on",
                                replay_variables=replay_variables == "on", seed=seed,
                                seed_mode=seed_mode, overwrite=overwrite, levels=levels))

main = cli
