"""What tells the lab that something is wrong: alarms, one SNS topic, one dashboard per stage.

Alarms (each notifies the topic, which mails ``ALARM_EMAIL`` when the stage sets it):

- every dead-letter queue (and the counter's failed-event queue) holds a message;
- every work queue's oldest message is older than ``queue_age_alarm_minutes``;
- every function, Chalice's by their deployed names and the container functions,
  fails more than ``error_rate_alarm_percent`` of its invocations over 5 minutes;
- a CellProfiler job waited RUNNABLE until the job queue's time limit cancelled it
  (``infra/batch.py``: a job that no instance can fit, or no capacity, for 30 min).
  Batch has no CloudWatch metric for job states: an EventBridge rule matches the
  cancellation (``statusReason`` "Canceled by JobStateTimeLimit action…"), mails the
  topic, and its ``MatchedEvents`` metric carries the alarm.

The dashboard shows the app's own EMF metrics (``chalicelib/observability.py``), the
functions' invocations, errors and durations, the queues and the alarms' states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from chalicelib.config import Settings
from chalicelib.functions import CONTAINER_FUNCTIONS
from chalicelib.observability import METRICS, NAMESPACE
from infra.stages import Stage

if TYPE_CHECKING:
    from infra.stack import PipelinesStack

FIVE_MINUTES = cdk.Duration.minutes(5)
TIME_LIMIT_REASON = "Canceled by JobStateTimeLimit action"


def dead_letter_queues(settings: Settings) -> list[str]:
    """Queues where a message means something failed for good."""
    return [*settings.queues_with_dlq.values(), settings.cell_counter_failures_queue]


def work_queues(settings: Settings) -> list[str]:
    """Queues our functions consume: a message that stays means a stuck consumer."""
    return list(settings.queues_with_dlq)


def function_names(stage: Stage) -> list[str]:
    """Every deployed function: Chalice's zip functions and the container functions."""
    names = [stage.function_name(handler) for handler in stage.handlers]
    names += [getattr(stage.settings, f.name_setting) for f in CONTAINER_FUNCTIONS]
    return names


def lambda_metric(name: str, function: str, statistic: str = "Sum") -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/Lambda",
        metric_name=name,
        dimensions_map={"FunctionName": function},
        statistic=statistic,
        period=FIVE_MINUTES,
    )


def error_rate(function: str, index: int = 0) -> cloudwatch.MathExpression:
    """Errors as a percentage of invocations (0 while nothing runs).

    ``index`` keeps the expression's metric ids unique when one graph shows several.
    """
    errors, invocations = f"errors{index}", f"invocations{index}"
    return cloudwatch.MathExpression(
        expression=f"IF({invocations} > 0, 100 * {errors} / {invocations}, 0)",
        using_metrics={
            errors: lambda_metric("Errors", function),
            invocations: lambda_metric("Invocations", function),
        },
        period=FIVE_MINUTES,
        label=f"{function} error %",
    )


def app_metric(stage: Stage, name: str, statistic: str = "Sum") -> cloudwatch.IMetric:
    """One of our EMF metrics; those with an extra dimension as a SEARCH over its values."""
    _unit, extra = METRICS[name]
    if not extra:
        return cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name=name,
            dimensions_map={"stage": stage.name},
            statistic=statistic,
            period=FIVE_MINUTES,
        )
    schema = ",".join([NAMESPACE, *sorted([extra, "stage"])])
    return cloudwatch.MathExpression(
        expression=(
            f'SEARCH(\'{{{schema}}} MetricName="{name}" '
            f"stage=\"{stage.name}\"', '{statistic}', 300)"
        ),
        using_metrics={},
        label=f"{name} by {extra}",
        period=FIVE_MINUTES,
    )


class Monitoring(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage: Stage, pipelines: PipelinesStack
    ) -> None:
        super().__init__(scope, construct_id)
        self.stage = stage
        settings = stage.settings
        self.topic = sns.Topic(
            self, "AlarmTopic", topic_name=f"{stage.prefix}-alarms", enforce_ssl=True
        )
        if settings.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for name in dead_letter_queues(settings):
            self._dead_letter_alarm(name, pipelines.queues[name])
        for name in work_queues(settings):
            self._queue_age_alarm(name, pipelines.queues[name])
        for function in function_names(stage):
            self._error_rate_alarm(function)
        self._batch_time_limit_alarm(pipelines.batch.job_queue.job_queue_arn)
        self.dashboard = self._dashboard(pipelines)
        self.dashboard_url = (
            f"https://{cdk.Aws.REGION}.console.aws.amazon.com/cloudwatch/home"
            f"?region={cdk.Aws.REGION}#dashboards:name={stage.prefix}"
        )

    # -- alarms ----------------------------------------------------------------------------
    def _alarm(self, key: str, name: str, **options: object) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            key,
            alarm_name=f"{self.stage.prefix}-{name}",
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            **options,  # type: ignore[arg-type]
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.alarms[name] = alarm
        return alarm

    def _dead_letter_alarm(self, name: str, queue: sqs.Queue) -> None:
        short = name.removeprefix(self.stage.prefix + "-")
        self._alarm(
            _pascal(short) + "NotEmpty",
            f"{short}-not-empty",
            alarm_description=f"{name} holds a message: something failed for good",
            metric=queue.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(1), statistic="Maximum"
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

    def _queue_age_alarm(self, name: str, queue: sqs.Queue) -> None:
        short = name.removeprefix(self.stage.prefix + "-")
        minutes = self.stage.infra.queue_age_alarm_minutes
        self._alarm(
            _pascal(short) + "OldestMessage",
            f"{short}-oldest-message",
            alarm_description=f"a message has waited on {name} for over {minutes} minutes",
            metric=queue.metric_approximate_age_of_oldest_message(
                period=FIVE_MINUTES, statistic="Maximum"
            ),
            threshold=minutes * 60,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

    def _error_rate_alarm(self, function: str) -> None:
        short = function.removeprefix(self.stage.prefix).lstrip("-") or "api"
        percent = self.stage.infra.error_rate_alarm_percent
        self._alarm(
            _pascal(short) + "ErrorRate",
            f"{short}-error-rate",
            alarm_description=f"{function} failed over {percent}% of invocations in 5 minutes",
            metric=error_rate(function),
            threshold=percent,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

    def _batch_time_limit_alarm(self, job_queue_arn: str) -> None:
        rule = events.Rule(
            self,
            "BatchRunnableTooLong",
            rule_name=f"{self.stage.prefix}-batch-runnable-too-long",
            description="a CellProfiler job waited RUNNABLE until the queue's time limit",
            event_pattern=events.EventPattern(
                source=["aws.batch"],
                detail_type=["Batch Job State Change"],
                detail={
                    "jobQueue": [job_queue_arn],
                    "status": ["FAILED"],
                    "statusReason": [{"prefix": TIME_LIMIT_REASON}],
                },
            ),
        )
        rule.add_target(targets.SnsTopic(self.topic))
        minutes = self.stage.infra.runnable_timeout_minutes
        self._alarm(
            "BatchRunnableTooLongAlarm",
            "batch-runnable-too-long",
            alarm_description=f"a CellProfiler job waited RUNNABLE {minutes} minutes: cancelled",
            metric=cloudwatch.Metric(
                namespace="AWS/Events",
                metric_name="MatchedEvents",
                dimensions_map={"RuleName": rule.rule_name},
                statistic="Sum",
                period=FIVE_MINUTES,
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )

    # -- dashboard ---------------------------------------------------------------------------
    def _dashboard(self, pipelines: PipelinesStack) -> cloudwatch.Dashboard:
        stage = self.stage
        functions = function_names(stage)
        queues = [pipelines.queues[name] for name in sorted(pipelines.queues)]
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=stage.prefix)
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=24, height=4
            )
        )
        dashboard.add_widgets(
            _graph("Images counted", [app_metric(stage, "ImagesCounted")]),
            _graph(
                "Count latency (ms)",
                [app_metric(stage, "CountLatency", s) for s in ("p50", "p90", "Maximum")],
            ),
            _graph("Failures by reason", [app_metric(stage, "Failures")]),
            _graph("Jobs by status", [app_metric(stage, "Jobs")]),
        )
        dashboard.add_widgets(
            _graph("Painting groups submitted", [app_metric(stage, "PaintingGroups")]),
            _graph("Video seconds blurred", [app_metric(stage, "VideoSecondsBlurred")]),
            _graph("Predictions", [app_metric(stage, "Predictions")]),
            _graph("Function error %", [error_rate(f, i) for i, f in enumerate(functions)]),
        )
        dashboard.add_widgets(
            _graph("Invocations", [lambda_metric("Invocations", f) for f in functions]),
            _graph("Duration p90 (ms)", [lambda_metric("Duration", f, "p90") for f in functions]),
            _graph("Throttles", [lambda_metric("Throttles", f) for f in functions]),
            _graph(
                "Queue depth",
                [
                    q.metric_approximate_number_of_messages_visible(
                        period=FIVE_MINUTES, statistic="Maximum"
                    )
                    for q in queues
                ],
            ),
        )
        return dashboard


def _graph(title: str, metrics: list[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=metrics, width=6, height=6)


def _pascal(text: str) -> str:
    return "".join(part.capitalize() for part in text.replace("_", "-").split("-") if part)
