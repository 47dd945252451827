"""``psyprofile train``, ``psyprofile predict`` and ``psyprofile models list|show``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from psyprofile.cli.engine_options import EngineChoice, engine_options
from psyprofile.cli.quiet_option import quiet_option
from psyprofile.errors import PsyprofileError

if TYPE_CHECKING:
    from psyprofile.store.workspace import Workspace

study_arg = click.argument("study", type=click.Path(file_okay=False, path_type=Path))


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _penalties(value: str) -> tuple[float, ...]:
    try:
        cs = tuple(float(v) for v in _csv(value))
    except ValueError:
        cs = ()
    if not cs or min(cs) <= 0:
        raise PsyprofileError(f"--Cs takes positive numbers separated by commas, e.g. 0.001,0.01,0.1 "
                              f"(got '{value}').")
    return cs


def _ci(ci: list | None) -> str:
    return f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else ""


def _line(task: str, m: dict) -> str:
    keys = ("r", "r2", "mae") if task == "regression" else ("auc", "accuracy", "f1")
    parts = [f"{k} {m[k]:.3f}{_ci(m.get(k + '_ci'))}" if m.get(k) is not None else f"{k} n/a" for k in keys]
    return f"n {m['n_users']:,}  " + "  ".join(parts)


@click.command()
@study_arg
@click.option("--outcome", required=True, help="Outcome column to predict (loaded with `psyprofile outcomes`).")
@click.option("--features", "features", required=True, help="Comma-separated feature sets, e.g. 1gram,topics.")
@click.option("--controls", help="Comma-separated outcome columns used as control predictors.")
@click.option("--task", type=click.Choice(["regression", "classification"]),
              help="Default: regression for a numeric outcome, else classification.")
@click.option("--folds", "n_folds", default=10, show_default=True, help="Number of seeded CV folds.")
@click.option("--fold-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV user_id,fold (raw ids) or pseudo_user_id,fold; users not in it are excluded.")
@click.option("--export-folds", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the folds used (pseudonymous ids) to this CSV for later runs.")
@click.option("--seed", default=42, show_default=True)
@click.option("--reduce", type=click.Choice(["none", "pca"]), default="none", show_default=True,
              help="Univariate selection + PCA per feature set, inside each training fold.")
@click.option("--recipe", type=click.Choice(["auto", "plain", "stack"]), default="auto", show_default=True,
              help="plain: one model over all sets; stack: one per set, combined on out-of-fold "
                   "predictions; auto: whichever the inner CV finds better (plain unless the stack "
                   "is clearly better), the safe choice at 100-500 users.")
@click.option("--stack", is_flag=True, help="Same as --recipe stack.")
@click.option("--labels", "labels", multiple=True,
              help="Value labels of an outcome, e.g. gender=0:male,1:female (repeatable); kept in "
                   "the study for DLA and reports.")
@click.option("--transform", type=click.Choice(["none", "sqrt"]), default="none", show_default=True,
              help="Square root of relative frequencies (non-negative sets) before standardising.")
@click.option("--target-transform", type=click.Choice(["none", "log"]), default="none", show_default=True,
              help="Fit log(outcome) and back-transform predictions (positive outcomes, e.g. age).")
@click.option("--Cs", "cs", help="Logistic-regression penalties C tried by inner CV (classification), "
                                 "e.g. 0.001,0.01,0.1; default 0.0001,0.001,0.01,0.1,1.")
@click.option("--inner-folds", type=click.IntRange(min=2), default=3, show_default=True,
              help="Folds of the inner CV (choosing C, and the out-of-fold predictions --stack combines).")
@click.option("--feature-sets-compare", "compare", is_flag=True, help="Also train each set alone; print a table.")
@click.option("--audit-by", help="Comma-separated columns: metrics per subgroup (numeric ones in quartiles).")
@click.option("--min-words", type=int, help="Minimum words per user (default: the study setting).")
@click.option("--bootstrap", "n_boot", default=2000, show_default=True, help="Bootstrap resamples for CIs.")
@click.option("--save", help="Save the final model: a NAME (in STUDY/models/) or a folder PATH.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with stable keys.")
@quiet_option
def train(study: Path, outcome: str, features: str, controls: str | None, task: str | None,
          n_folds: int, fold_file: Path | None, export_folds: Path | None, seed: int, reduce: str,
          recipe: str, stack: bool, labels: tuple[str, ...], transform: str,
          target_transform: str, cs: str | None, inner_folds: int,
          compare: bool, audit_by: str | None,
          min_words: int | None, n_boot: int, save: str | None, as_json: bool, quiet: bool) -> None:
    """Cross-validate a model of OUTCOME from feature sets of STUDY; optionally save it."""
    from psyprofile.cli.study_open import open_study
    from psyprofile.models.folds import write_fold_file
    from psyprofile.models.persist import save_model
    from psyprofile.models.pipeline import CS
    from psyprofile.models.predict import keep_training_predictions
    from psyprofile.models.train import TrainOptions
    from psyprofile.models.train import train as run
    from psyprofile.store.outcomes import parse_labels, set_value_labels

    penalties = _penalties(cs) if cs else CS
    ws = open_study(study)
    if labels:
        set_value_labels(ws, parse_labels(labels))
    opts = TrainOptions(
        outcome=outcome, feature_sets=_csv(features), controls=_csv(controls), task=task,
        n_folds=n_folds, fold_file=fold_file, seed=seed, reduce=reduce,
        combine="stack" if stack else {"plain": "concat"}.get(recipe, recipe), transform=transform,
        target_transform=target_transform, min_words=min_words, n_boot=n_boot,
        Cs=penalties, inner_folds=inner_folds,
    )
    result = run(ws, opts, compare=compare, audit_by=_csv(audit_by) or None,
                 fit_final=save is not None, progress=not quiet and not as_json)
    if export_folds:
        write_fold_file(export_folds, result.data.users, result.data.folds)
    report = result.report()
    if save:
        folder = save_model(ws, result, save)
        keep_training_predictions(ws, result, folder)
        report["saved"] = str(folder)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    t = report["task"]
    click.echo(f"{outcome} ({t}{_positive(ws, outcome, report)}) from {', '.join(report['feature_sets'])}, "
               f"{report['n_folds']}-fold CV")
    if report.get("recipe_per_fold") and opts.combine == "auto":
        chosen = ", ".join(f"{k} in {v}" for k, v in report["recipe_per_fold"].items())
        click.echo(f"  recipe chosen by inner CV per fold: {chosen}"
                   + (f"; saved model: {report['recipe']}" if report.get("recipe") else ""))
    click.echo("  model          " + _line(t, report))
    if report["controls_only"]:
        click.echo("  controls only  " + _line(t, report["controls_only"]))
    click.echo("  excluded users: " + ", ".join(f"{k} {v:,}" for k, v in report["excluded"].items()))
    for row in report["compare"] or []:
        click.echo(f"  {'+'.join(row['feature_sets']):<28} " + _line(t, row))
    for col, rows in (report["audit"] or {}).items():
        click.echo(f"  by {col}:")
        for row in rows:
            click.echo(f"    {row['group']:<24} " + _line(t, row))
    if save:
        click.echo(f"  saved model and card to {report['saved']}")


def _positive(ws: Workspace, outcome: str, report: dict) -> str:
    """'; positive = 1 (female)' for a two-class outcome: the class whose probability is
    predicted, and its value label when the study has one."""
    from psyprofile.store.outcomes import value_labels

    classes = report.get("classes") or []
    if len(classes) != 2:
        return ""
    with ws.connect(read_only=True) as con:
        label = value_labels(con, outcome).get(classes[1])
    return f"; positive = {classes[1]}" + (f" ({label})" if label else "")


@click.command()
@study_arg
@click.option("--model", "model_ref", required=True, help="Model folder PATH, or NAME of a study or bundled model.")
@click.option("--min-words", type=int, help="Minimum words per user (default: the model's training minimum).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with stable keys.")
@click.option("--partition-users", type=click.IntRange(min=1), default=20_000, show_default=True,
              help="Users scored per task on --engine dask or --workers.")
@engine_options
def predict(study: Path, model_ref: str, min_words: int | None, as_json: bool,
            partition_users: int, engine: EngineChoice) -> None:
    """Score every user of STUDY with enough text; scores go to the `predictions` table."""
    import dataclasses
    import warnings

    from psyprofile.cli.study_open import open_study
    from psyprofile.models.persist import load_model
    from psyprofile.models.predict import predict as run

    ws = open_study(study)
    saved = load_model(model_ref, ws)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with engine.open() as eng:
            report = run(ws, saved, min_words, engine=eng, partition_users=partition_users)
    for w in caught:
        click.secho(f"warning: {w.message}", fg="yellow", err=True)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        click.echo(report.summary())


@click.group()
def models() -> None:
    """Saved prediction models."""


@models.command("list")
@click.argument("study", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def list_cmd(study: Path | None, as_json: bool) -> None:
    """List the models of STUDY (if given) and those bundled with psyprofile."""
    from psyprofile.cli.study_open import open_optional
    from psyprofile.models.persist import list_models

    found = list_models(open_optional(study))
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("no models yet; train one with `psyprofile train STUDY ... --save NAME`")
    for m in found:
        metric = f"r {m['r']:.3f}" if m["r"] is not None else (f"auc {m['auc']:.3f}" if m["auc"] is not None else "")
        source = "lexicon on " if m.get("kind") == "lexicon" else ""
        click.echo(f"{m['name']:<20} {m['where']:<8} {m['outcome']} ({m['task']}) from {source}"
                   f"{'+'.join(m['feature_sets'])}  {metric}  n {m['n_users']}  {m['path']}")


@models.command("show")
@click.argument("model_ref", metavar="MODEL")
@click.argument("study", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON (card.json's keys).")
def show_cmd(model_ref: str, study: Path | None, as_json: bool) -> None:
    """Print the model card of MODEL (a folder PATH, or NAME of a model of STUDY or bundled)."""
    from psyprofile.cli.study_open import open_optional
    from psyprofile.models.card import build_card, render_markdown
    from psyprofile.models.persist import read_spec, resolve

    folder = resolve(model_ref, open_optional(study))
    card = build_card(read_spec(folder))
    click.echo(json.dumps(card, indent=2) if as_json else render_markdown(card))
