import { gatewayFromEnv } from '../../edge/runtime/from-env.js';
import { streamingHandler, type AwsLambdaGlobal } from './stream.js';

declare const awslambda: AwsLambdaGlobal;

/**
 * The gateway on Lambda. Built once per runtime worker: on Managed Instances the Node.js runtime
 * loads this module in each worker thread, and each worker serves many requests at once, with
 * its own app, budgets and breakers (see docs/lambda.md). Responses stream through the function
 * URL (`InvokeMode: RESPONSE_STREAM`), which is what lets `stream: true` completions reach the
 * client token by token.
 */
const { app } = gatewayFromEnv(process.env);

export const handler = streamingHandler(app, awslambda);
