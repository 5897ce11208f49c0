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

/** Fargate task sizes: memory (MiB) each vCPU setting allows, lowest and highest. */
const FARGATE_MEMORY: Record<number, readonly [number, number]> = {
  256: [512, 2048],
  512: [1024, 4096],
  1024: [2048, 8192],
  2048: [4096, 16_384],
  4096: [8192, 30_720],
  8192: [16_384, 61_440],
  16384: [32_768, 122_880],
};

/** ECS on Fargate waits at most 120 s between SIGTERM and SIGKILL (`stopTimeout`). */
export const FARGATE_MAX_STOP_SECONDS = 120;
/** Seconds between the end of the drain and ECS's SIGKILL. */
export const FARGATE_STOP_MARGIN_SECONDS = 5;

/**
 * The gateway as an ECS Fargate service of the `npm run serve` image behind an internal
 * Application Load Balancer, CloudFront reaching it as a VPC origin (docs/fargate.md). Used when
 * `gateway.runtime` is `fargate`.
 */
export const gatewayFargateSchema = z
  .strictObject({
    /** Task CPU units (1024 = 1 vCPU). One Node.js process per task. @default 1024 */
    cpu: z.literal([256, 512, 1024, 2048, 4096, 8192, 16384]).default(1024),
    /** Task memory, MiB, within what Fargate allows for `cpu`. @default 2048 */
    memoryMiB: z.number().int().min(512).max(122_880).default(2048),
    /** Tasks always running (spread across the zones). @default 2 */
    minTasks: z.number().int().min(1).max(1000).default(2),
    /** The most tasks autoscaling may run; each task holds its own budgets. @default 16 */
    maxTasks: z.number().int().min(1).max(1000).default(16),
    /** Average task CPU autoscaling keeps, percent. @default 60 */
    cpuTargetPercent: z.number().min(10).max(95).default(60),
    /** ALB requests per task per minute autoscaling keeps (`ALBRequestCountPerTarget`). @default 600 */
    requestsPerTaskPerMinute: z.number().int().min(1).max(1_000_000).default(600),
    /**
     * How long a stopping task lets in-flight requests and streams finish (`SLUICE_DRAIN_MS`), and
     * the target group's deregistration delay. ECS's stop timeout is this plus 5 s, at most 120 s.
     * @default 60
     */
    drainSeconds: z
      .number()
      .int()
      .min(1)
      .max(FARGATE_MAX_STOP_SECONDS - FARGATE_STOP_MARGIN_SECONDS)
      .default(60),
    /**
     * The ALB's HTTPS name (a record of yours pointing at the ALB), which CloudFront connects to
     * and checks the certificate against. Required with `runtime: 'fargate'`.
     */
    originDomainName: z
      .string()
      .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/)
      .optional(),
    /** ACM certificate in `region` for `originDomainName`. Required with `runtime: 'fargate'`. */
    originCertificateArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/)
      .optional(),
    /**
     * Id of the AWS-managed prefix list `com.amazonaws.global.cloudfront.origin-facing` in
     * `region` (`aws ec2 describe-managed-prefix-lists`); the ALB admits HTTPS from it only.
     * Required with `runtime: 'fargate'`.
     */
    cloudFrontPrefixListId: z
      .string()
      .regex(/^pl-[0-9a-f]{8,17}$/)
      .optional(),
  })
  .superRefine((f, ctx) => {
    const [low, high] = FARGATE_MEMORY[f.cpu]!;
    if (f.memoryMiB < low || f.memoryMiB > high) {
      ctx.addIssue({
        code: 'custom',
        path: ['memoryMiB'],
        message: `must lie within ${low}–${high} MiB for cpu ${f.cpu} (Fargate task sizes); change memoryMiB or cpu`,
      });
    }
    if (f.minTasks > f.maxTasks) {
      ctx.addIssue({
        code: 'custom',
        path: ['minTasks'],
        message: `must not exceed maxTasks (${f.maxTasks})`,
      });
    }
  })
  .prefault({});

export type GatewayFargateConfig = z.output<typeof gatewayFargateSchema>;

export const gatewayFleetSchema = z
  .strictObject({
    /**
     * Where the gateway runs: `lambda` (Lambda Managed Instances, a streaming function URL) or
     * `fargate` (the `npm run serve` image on ECS Fargate behind an ALB). See docs/fargate.md.
     * @default 'lambda'
     */
    runtime: z.enum(['lambda', 'fargate']).default('lambda'),
    /** The Fargate service, used when `runtime` is `fargate`. */
    fargate: gatewayFargateSchema,
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
    if (g.runtime === 'fargate') {
      for (const field of [
        'originDomainName',
        'originCertificateArn',
        'cloudFrontPrefixListId',
      ] as const) {
        if (g.fargate[field] === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['fargate', field],
            message: `is required when gateway.runtime is 'fargate' (see docs/fargate.md)`,
          });
        }
      }
    }
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
  // On Fargate each task is one Node.js process: one set of budgets per task.
  if (g.runtime === 'fargate') {
    return {
      vCpusPerEnvironment: Math.max(1, g.fargate.cpu / 1024),
      workersPerEnvironment: 1,
      maxEnvironments: g.fargate.maxTasks,
      maxWorkers: g.fargate.maxTasks,
    };
  }
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
