"""The CDK app: ``cdk --app "python -m infra.app" -c stage=dev …`` or :func:`synth` in tests.

Context:
- ``stage`` (required by the CLI): ``dev`` or ``prod``.
- ``rest_api_id`` (optional): the REST API ``chalice deploy`` created; with it the
  app also defines the API-access stack (usage plan and key, or the IAM callers'
  policy) that ``make deploy`` deploys after the Chalice app.
- ``account`` and ``region``: ``make deploy`` passes the ones it resolved once, so
  every stack names its account and region explicitly (never the CLI's own guess).

Synthesizing needs neither Docker nor AWS credentials: container images are
only recorded as assets here and built and pushed by ``cdk deploy``.
"""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import cx_api

from infra.api_access import ApiAccessStack, protected_routes
from infra.stack import PipelinesStack
from infra.stages import stage as stage_named


def build(
    app: cdk.App,
    stage_name: str,
    rest_api_id: str | None = None,
    env: cdk.Environment | None = None,
) -> list[cdk.Stack]:
    stage = stage_named(stage_name)
    tags = {"project": stage.app_name, "stage": stage.name}
    stacks: list[cdk.Stack] = [PipelinesStack(app, stage, tags=tags, env=env)]
    if rest_api_id and protected_routes(stage):
        stacks.append(ApiAccessStack(app, stage, rest_api_id, tags=tags, env=env))
    return stacks


def environment(account: object, region: object) -> cdk.Environment | None:
    """The stacks' explicit account and region; None (environment-agnostic) for offline synths."""
    if not account and not region:
        return None
    if not re.fullmatch(r"\d{12}", str(account or "")) or not re.fullmatch(
        r"[a-z]{2}(-[a-z]+)+-\d", str(region or "")
    ):
        raise SystemExit(f"give a 12-digit account and a region; got {account!r}, {region!r}")
    return cdk.Environment(account=str(account), region=str(region))


def synth(
    stage_names: list[str], outdir: Path, rest_api_id: str | None = None
) -> cx_api.CloudAssembly:
    """Every stack of ``stage_names`` into ``outdir`` (tests and ``make``)."""
    app = cdk.App(outdir=str(outdir))
    for name in stage_names:
        build(app, name, rest_api_id)
    return app.synth()


def main() -> None:
    app = cdk.App()
    stage_name = app.node.try_get_context("stage")
    if not stage_name:
        raise SystemExit('give the stage: cdk … -c stage=dev (or use "make deploy STAGE=dev")')
    context = app.node.try_get_context
    env = environment(context("account"), context("region"))
    build(app, str(stage_name), context("rest_api_id"), env)
    app.synth()


if __name__ == "__main__":
    main()
