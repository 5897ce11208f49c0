import { z } from 'zod';

/**
 * The gateway's execution environments on Lambda Managed Instances, and how a model's engine
 * budget is divided across them (see docs/lambda.md for the AWS pages behind each limit).
 *
 * Every admission budget, breaker and limiter of the gateway lives in one worker thread of one
 * environment, so a budget the whole fleet must respect is divided by the number of workers the
 * fleet can have at its largest.
 */

/** Worker threads per environment Sluice accepts (`AWS_LAMBDA_NODEJS_WORKER_COUNT`). */
export const MAX_WORKERS_PER_ENVIRONMENT = 64;

export const gatewayFleetSchema = z
  .strictObject({
    /**
     * Concurrent requests Lambda may send one execution environment
     * (`PerExecutionEnvironmentMaxConcurrency`, 1–1600). @default 64
     */
    maxConcurrency: z.number().int().min(1).max(1600).default(64),
    /** Memory per vCPU, GiB (2, 4 or 8). @default 2 */
    memoryGiBPerVCpu: z.union([z.literal(2), z.literal(4), z.literal(8)]).default(2),
    /**
     * Memory of one execution environment, MiB: at least 2048 (AWS's 2 GB minimum) and a whole
     * multiple of 1024 × `memoryGiBPerVCpu` (whole vCPUs). @default 2048
     */
    memoryMiB: z.number().int().min(2048).max(32_768).default(2048),
    /** Capacity provider vCPU ceiling (`MaxVCpuCount`). @default 64 */
    maxVCpu: z.number().int().min(2).max(10_000).default(64),
    /** CPU target of the capacity provider's scaling, percent. @default 70 */
    cpuTargetPercent: z.number().min(10).max(95).default(70),
    /**
     * Node.js worker threads per environment (`AWS_LAMBDA_NODEJS_WORKER_COUNT`). Set always:
     * unset, the runtime starts 8 per vCPU.
     * @default the environment's vCPUs
     */
    workersPerEnvironment: z.number().int().min(1).max(MAX_WORKERS_PER_ENVIRONMENT).optional(),
    /**
     * The most execution environments the fleet can run, across all versions during a
     * deployment. It must cover what the capacity provider can reach.
     * @default floor(maxVCpu ÷ vCPUs per environment)
     */
    maxEnvironments: z.number().int().min(1).max(10_000).optional(),
  })
  .superRefine((g, ctx) => {
    const issue = (path: string, message: string): void => {
      ctx.addIssue({ code: 'custom', path: [path], message });
    };
    const perVCpu = 1024 * g.memoryGiBPerVCpu;
    if (g.memoryMiB % perVCpu !== 0) {
      issue(
        'memoryMiB',
        `must be a whole multiple of 1024 × memoryGiBPerVCpu (${perVCpu} MiB per vCPU); ` +
          `use ${Math.max(1, Math.round(g.memoryMiB / perVCpu)) * perVCpu}`,
      );
      return;
    }
    const fleet = gatewayFleet(g);
    if (g.maxConcurrency < fleet.workersPerEnvironment) {
      issue(
        'maxConcurrency',
        `must be at least workersPerEnvironment (${fleet.workersPerEnvironment}): every worker needs a request`,
      );
    }
    const reachable = Math.floor(g.maxVCpu / fleet.vCpusPerEnvironment);
    if (reachable < 1) {
      issue(
        'maxVCpu',
        `must hold at least one environment of ${fleet.vCpusPerEnvironment} vCPUs; raise maxVCpu or lower memoryMiB`,
      );
    }
    if (g.maxEnvironments !== undefined && g.maxEnvironments < reachable) {
      issue(
        'maxEnvironments',
        `is below the ${reachable} environments maxVCpu (${g.maxVCpu}) can run at ${fleet.vCpusPerEnvironment} vCPUs each; ` +
          `raise maxEnvironments to ${reachable} or lower maxVCpu to ${g.maxEnvironments * fleet.vCpusPerEnvironment}`,
      );
    }
  })
  .prefault({});

export type GatewayFleetConfig = z.output<typeof gatewayFleetSchema>;

export interface GatewayFleet {
  vCpusPerEnvironment: number;
  workersPerEnvironment: number;
  maxEnvironments: number;
  /** Workers at the fleet's largest: each holds its own budgets. */
  maxWorkers: number;
}

/** The fleet a valid gateway config describes. */
export function gatewayFleet(g: GatewayFleetConfig): GatewayFleet {
  const vCpusPerEnvironment = Math.max(1, Math.floor(g.memoryMiB / (1024 * g.memoryGiBPerVCpu)));
  const workersPerEnvironment = g.workersPerEnvironment ?? vCpusPerEnvironment;
  const maxEnvironments =
    g.maxEnvironments ?? Math.max(1, Math.floor(g.maxVCpu / vCpusPerEnvironment));
  return {
    vCpusPerEnvironment,
    workersPerEnvironment,
    maxEnvironments,
    maxWorkers: maxEnvironments * workersPerEnvironment,
  };
}

/** One worker's share of a fleet-wide budget: never above it in total. */
export const perWorkerShare = (budget: number, fleet: GatewayFleet): number =>
  Math.floor(budget / fleet.maxWorkers);
