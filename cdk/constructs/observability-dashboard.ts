import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { ModelDeployment } from '../config/schema.js';
import { componentMetric } from './component-alarms.js';
import { EndpointMetrics } from './endpoint-alarms.js';
import { gatewayErrorRate, gatewayMetric, gatewayTargetMetric } from './gateway-alarms.js';

export interface ObservabilityDashboardProps {
  readonly models: readonly ModelDeployment[];
  /** Alarms shown in the status widget. */
  readonly alarms: readonly cloudwatch.IAlarm[];
}

/**
 * One dashboard: alarm status, then per model the gateway's QPS, p99 latency, 5xx rate, batch
 * size and queue wait (EMF), time to first token and per output token, SageMaker's `ModelLatency`,
 * and per variant GPU and GPU memory utilization per GPU, or per inference component its
 * invocations per copy and the requests that found no copy.
 */
export class ObservabilityDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: ObservabilityDashboardProps) {
    super(scope, id);
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Alarms',
        alarms: [...props.alarms],
        width: 24,
        height: 4,
      }),
    );
    for (const m of props.models) {
      const target =
        m.hosting === 'endpoint'
          ? m.endpointName
          : `${m.inferenceComponent.endpoint}/${m.inferenceComponent.name}`;
      const qps = new cloudwatch.MathExpression({
        expression: 'req / PERIOD(req)',
        usingMetrics: { req: gatewayMetric(m.id, 'Requests', 'Sum') },
        label: 'requests/s',
        period: Duration.minutes(1),
      });
      this.dashboard.addWidgets(
        new cloudwatch.TextWidget({
          markdown: `## ${m.id} → ${target}`,
          width: 24,
          height: 1,
        }),
        new cloudwatch.GraphWidget({ title: 'QPS', left: [qps], width: 6 }),
        new cloudwatch.GraphWidget({
          title: 'p99 latency (ms)',
          left: [gatewayMetric(m.id, 'Latency', 'p99')],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'Gateway 5xx %',
          left: [gatewayErrorRate(m.id)],
          width: 6,
        }),
        new cloudwatch.GraphWidget({
          title: 'Batch size / queue wait p99 (ms)',
          left: [gatewayMetric(m.id, 'BatchSize', 'Average')],
          right: [gatewayMetric(m.id, 'QueueWait', 'p99')],
          width: 6,
        }),
        ...this.latencyWidgets(m),
        ...this.hostWidgets(m),
      );
    }
  }

  /**
   * Time to first token and per output token (p99, generation models), and SageMaker's
   * `ModelLatency` p99 per variant or component: watched here, not alarmed on for generation
   * models, because it grows with the length of the answer.
   */
  private latencyWidgets(m: ModelDeployment): cloudwatch.IWidget[] {
    const modelLatency =
      m.hosting === 'component'
        ? [
            new cloudwatch.MathExpression({
              expression: 'lat / 1000',
              usingMetrics: {
                lat: componentMetric(m.inferenceComponent.name, 'ModelLatency', 'p99'),
              },
              label: `${m.inferenceComponent.name} ModelLatency p99 (ms)`,
              period: Duration.minutes(1),
            }),
          ]
        : m.variants.map((v) => new EndpointMetrics(m.endpointName).modelLatencyP99Ms(v.name));
    const widgets: cloudwatch.IWidget[] = [];
    if (m.kind !== 'embedding') {
      widgets.push(
        new cloudwatch.GraphWidget({
          title: 'Time to first token / per output token p99 (ms)',
          left: [gatewayTargetMetric(m.id, 'TimeToFirstToken', 'p99')],
          right: [gatewayTargetMetric(m.id, 'TimePerOutputToken', 'p99')],
          width: 12,
        }),
      );
    }
    widgets.push(
      new cloudwatch.GraphWidget({
        title: 'SageMaker ModelLatency p99 (ms)',
        left: modelLatency,
        width: m.kind === 'embedding' ? 24 : 12,
      }),
    );
    return widgets;
  }

  /** Per variant GPU and GPU memory per GPU; per component its copies and invocations. */
  private hostWidgets(m: ModelDeployment): cloudwatch.IWidget[] {
    if (m.hosting === 'component') {
      const name = m.inferenceComponent.name;
      return [
        new cloudwatch.GraphWidget({
          title: 'Invocations per copy',
          left: [componentMetric(name, 'InvocationsPerCopy', 'Sum')],
          width: 12,
        }),
        new cloudwatch.GraphWidget({
          title: 'Requests that found no copy',
          left: [componentMetric(name, 'NoCapacityInvocationFailures', 'Sum')],
          width: 12,
        }),
      ];
    }
    const endpoint = new EndpointMetrics(m.endpointName);
    return [
      new cloudwatch.GraphWidget({
        title: 'GPU utilization per GPU (%)',
        left: m.variants.map((v) => endpoint.gpuPerGpu(v)),
        leftYAxis: { min: 0, max: 100 },
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'GPU memory per GPU (%)',
        left: m.variants.map((v) => endpoint.gpuPerGpu(v, 'GPUMemoryUtilization')),
        leftYAxis: { min: 0, max: 100 },
        width: 12,
      }),
    ];
  }
}
