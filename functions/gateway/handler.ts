import { streamHandle } from 'hono/aws-lambda';
import { gatewayFromEnv } from '../../edge/runtime/from-env.js';

/**
 * The gateway on Lambda. Built once per execution environment: on Managed Instances one
 * environment serves many requests at once, so the coalescers inside the app see real
 * concurrency. Responses stream through the function URL (`InvokeMode: RESPONSE_STREAM`),
 * which is what lets `stream: true` completions reach the client token by token.
 */
const { app } = gatewayFromEnv(process.env);

export const handler = streamHandle(app);
