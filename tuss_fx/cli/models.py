"""tuss-fx models: what is shipped and installed; pull or add the official TUSS checkpoints."""

from __future__ import annotations

from pathlib import Path

import click

from tuss_fx.cli.options import progress_bar


@click.group(invoke_without_command=True)
@click.pass_context
def models(ctx: click.Context) -> None:
    """List the models tuss-fx knows (shipped, installed, installable); `pull` or `add` one."""
    if ctx.invoked_subcommand is None:
        for line in catalogue_lines():
            click.echo(line)


def catalogue_lines() -> list[str]:
    from tuss_fx.deepfilternet.enhancer import WEIGHTS_PATH
    from tuss_fx.separation.checkpoint import default_checkpoint
    from tuss_fx.separation.models import OFFICIAL_MODELS, home, installed

    rows = [("default", "shipped TUSS small, trained by this project", _megabytes(default_checkpoint()), "MIT",
             f"shipped: {default_checkpoint()}"),
            ("deepfilternet3", "dialogue engine: DeepFilterNet3 (Schröter et al. 2023)", _megabytes(WEIGHTS_PATH),
             "MIT OR Apache-2.0", f"shipped: {WEIGHTS_PATH}")]
    for name, model in OFFICIAL_MODELS.items():
        folder = installed(name)
        state = f"installed: {folder}" if folder else f"not installed: tuss-fx models pull {name}"
        rows.append((name, model.description, f"{model.checkpoint.size / 1e6:.1f} MB", model.licence, state))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"{'name':<{widths[0]}}  {'what':<{widths[1]}}  {'size':>{widths[2]}}  {'licence':<{widths[3]}}  where"]
    lines += [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}" for r in rows]
    lines.append(f"(official models install under {home() / 'models'}; set TUSS_FX_HOME to move them)")
    return lines


def _megabytes(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f} MB" if path.exists() else "-"


@models.command("pull")
@click.argument("name")
@click.option("--mirror", default=None, metavar="URL",
              help="A mirror serving the official repository's paths (pretrained_models/...) [default: "
                   "$TUSS_FX_MODEL_MIRROR, else the official repository].")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def pull(name: str, mirror: str | None, quiet: bool) -> None:
    """Download the official checkpoint NAME (tuss-medium, tuss-large), verify its sha256 and install it.

    A cut download resumes when the command is run again."""
    from tuss_fx.separation.models import installed, official, pull as pull_model

    model = official(name)
    if installed(name):
        click.echo(f"{name} is already installed", err=True)
    else:
        _licence_notice(model)
    with progress_bar(name, quiet) as progress:
        folder = pull_model(model, mirror, progress)
    click.echo(str(folder))


@models.command("add")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def add(name: str, path: Path) -> None:
    """Install NAME from a copy already here (PATH: the official folder, or its checkpoints/model.pth),
    verified against the official sha256, for rooms without the internet."""
    from tuss_fx.separation.models import add as add_model, official

    model = official(name)
    _licence_notice(model)
    click.echo(str(add_model(model, path)))


def _licence_notice(model) -> None:
    click.echo(f"{model.name}: {model.description}, by MERL ({model.licence}); its licence travels with "
               "anything you distribute that includes it", err=True)
