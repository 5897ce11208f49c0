import { z } from 'zod';
import { GPU_INSTANCE_TYPES, instanceType, sagemakerName } from './instance-types.js';

/**
 * A SageMaker endpoint shared by inference components: one production variant with no model of
 * its own, an execution role on the endpoint config, and managed instance scaling, so SageMaker
 * adds and removes instances as the components' copy counts need them.
 */
export const sharedEndpointSchema = z
  .strictObject({
    /** Endpoint name (lower case: it appears in ARNs). */
    name: sagemakerName,
    instanceType,
    /** The variant the components are placed on. @default 'AllTraffic' */
    variantName: sagemakerName.default('AllTraffic'),
    /** Instances at creation; managed instance scaling moves the count afterwards. @default 1 */
    initialInstanceCount: z.number().int().min(1).max(100).default(1),
    /**
     * Fewest instances managed instance scaling keeps. 0 lets the endpoint release every instance
     * once all its components are at zero copies; allowed only when every component on it sets
     * `scaleToZero` (docs/deploy.md, "Scale to zero"). Set it equal to `maxInstanceCount` to
     * pin the fleet. @default 1
     */
    minInstanceCount: z.number().int().min(0).max(100).default(1),
    /** Most instances managed instance scaling may add for the components' copies. @default 2 */
    maxInstanceCount: z.number().int().min(1).max(100).default(2),
    /**
     * `RoutingConfig.RoutingStrategy`: `LEAST_OUTSTANDING_REQUESTS` sends a request to the copy
     * with the fewest in flight, which suits long, uneven LLM requests. @default 'LEAST_OUTSTANDING_REQUESTS'
     */
    routing: z.enum(['LEAST_OUTSTANDING_REQUESTS', 'RANDOM']).default('LEAST_OUTSTANDING_REQUESTS'),
  })
  .refine((e) => e.minInstanceCount <= e.maxInstanceCount, {
    message: 'minInstanceCount exceeds maxInstanceCount',
    path: ['minInstanceCount'],
  })
  .refine(
    (e) =>
      e.initialInstanceCount >= e.minInstanceCount && e.initialInstanceCount <= e.maxInstanceCount,
    {
      message: 'initialInstanceCount must lie within [minInstanceCount, maxInstanceCount]',
      path: ['initialInstanceCount'],
    },
  );

/**
 * How a model runs as an inference component on a shared endpoint: what one copy needs, how many
 * copies run, and how Application Auto Scaling moves `DesiredCopyCount`.
 */
export const inferenceComponentSchema = z
  .strictObject({
    /** The shared endpoint (`sharedEndpoints[].name`) the component runs on. */
    endpoint: sagemakerName,
    /** `InferenceComponentName`: the gateway passes it on every invocation. */
    name: sagemakerName,
    /** `NumberOfAcceleratorDevicesRequired`: GPUs per copy (the tensor-parallel degree). */
    acceleratorDevices: z.number().int().min(1).max(8),
    /** `MinMemoryRequiredInMb`: host memory reserved per copy, MiB. */
    minMemoryMb: z.number().int().min(128).max(2_000_000),
    /** `NumberOfCpuCoresRequired` per copy. @default unset (SageMaker's default) */
    cpuCores: z.number().min(0.25).max(192).optional(),
    /** `RuntimeConfig.CopyCount` at creation. @default 1 */
    initialCopies: z.number().int().min(0).max(100).default(1),
    /** Fewest copies autoscaling keeps; 0 only with `scaleToZero`. @default 1 */
    minCopies: z.number().int().min(0).max(100).default(1),
    /** Most copies autoscaling may run. @default 2 */
    maxCopies: z.number().int().min(1).max(100).default(2),
    /** Target of `SageMakerInferenceComponentInvocationsPerCopy` (per minute). @default 20 */
    targetInvocationsPerCopy: z.number().int().min(1).max(100_000).default(20),
    /**
     * Let the component scale to zero copies when idle. The first request after that fails
     * (SageMaker counts it in `NoCapacityInvocationFailures`) and starts a step-scaling policy
     * that brings one copy back, which takes minutes (docs/deploy.md). Requires `minCopies: 0`.
     * @default false
     */
    scaleToZero: z.boolean().default(false),
  })
  .refine((c) => c.minCopies <= c.maxCopies, {
    message: 'minCopies exceeds maxCopies',
    path: ['minCopies'],
  })
  .refine((c) => c.initialCopies >= c.minCopies && c.initialCopies <= c.maxCopies, {
    message: 'initialCopies must lie within [minCopies, maxCopies]',
    path: ['initialCopies'],
  })
  .refine((c) => c.minCopies > 0 || c.scaleToZero, {
    message:
      'minCopies 0 scales the component to zero, and the first request afterwards fails while a copy starts; set scaleToZero: true to accept that (docs/deploy.md)',
    path: ['minCopies'],
  })
  .refine((c) => !c.scaleToZero || c.minCopies === 0, {
    message: 'scaleToZero needs minCopies: 0',
    path: ['scaleToZero'],
  });

export type SharedEndpointDeployment = z.output<typeof sharedEndpointSchema>;
export type InferenceComponentDeployment = z.output<typeof inferenceComponentSchema>;

/**
 * Cross-field rules between the shared endpoints and the models placed on them: every component
 * names a declared endpoint, component names are unique, and the copies fit the GPUs: one copy
 * on one instance, the initial copies on the initial instances, the largest copy counts on the
 * largest fleet. Each issue names the field to change.
 */
export function checkPlacement(
  endpoints: readonly SharedEndpointDeployment[],
  /** Per model (same index as `models`), its component, or undefined for its own endpoint. */
  components: readonly (InferenceComponentDeployment | undefined)[],
  ctx: z.RefinementCtx,
): void {
  const byName = new Map(endpoints.map((e, i) => [e.name, i]));
  if (byName.size !== endpoints.length) {
    ctx.addIssue({
      code: 'custom',
      message: 'shared endpoint names must be unique',
      path: ['sharedEndpoints'],
    });
  }
  const names = new Set<string>();
  const placed = endpoints.map(() => [] as { i: number; c: InferenceComponentDeployment }[]);
  components.forEach((c, i) => {
    if (!c) return;
    const at = (field: string): (string | number)[] => ['models', i, 'inferenceComponent', field];
    if (names.has(c.name)) {
      ctx.addIssue({ code: 'custom', message: `${c.name} is used twice`, path: at('name') });
    }
    names.add(c.name);
    const e = byName.get(c.endpoint);
    if (e === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `no shared endpoint named ${c.endpoint} in sharedEndpoints`,
        path: at('endpoint'),
      });
      return;
    }
    placed[e]!.push({ i, c });
  });

  endpoints.forEach((e, j) => {
    const gpus = GPU_INSTANCE_TYPES[e.instanceType].gpus;
    const onIt = placed[j]!;
    if (onIt.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message: `no model runs on shared endpoint ${e.name}`,
        path: ['sharedEndpoints', j, 'name'],
      });
      return;
    }
    if (e.minInstanceCount === 0 && onIt.some(({ c }) => !c.scaleToZero)) {
      ctx.addIssue({
        code: 'custom',
        message: `minInstanceCount 0 needs every component on ${e.name} to set scaleToZero`,
        path: ['sharedEndpoints', j, 'minInstanceCount'],
      });
    }
    for (const { i, c } of onIt) {
      if (c.acceleratorDevices > gpus) {
        ctx.addIssue({
          code: 'custom',
          message: `one copy needs ${c.acceleratorDevices} GPUs; ${e.instanceType} has ${gpus}`,
          path: ['models', i, 'inferenceComponent', 'acceleratorDevices'],
        });
      }
    }
    const fits = (copies: 'initialCopies' | 'maxCopies', instances: number): void => {
      let used = 0;
      for (const { i, c } of onIt) {
        used += c.acceleratorDevices * c[copies];
        if (used > gpus * instances) {
          ctx.addIssue({
            code: 'custom',
            message: `the components on ${e.name} need ${used}+ GPUs at ${copies}; ${instances} × ${e.instanceType} has ${gpus * instances}`,
            path: ['models', i, 'inferenceComponent', 'acceleratorDevices'],
          });
          return;
        }
      }
    };
    fits('initialCopies', e.initialInstanceCount);
    fits('maxCopies', e.maxInstanceCount);
  });
}
