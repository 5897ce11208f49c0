import type { Check } from '../types.js';
import { accountCheck } from './account.js';
import { artifactsCheck } from './artifacts.js';
import { bootstrapCheck } from './bootstrap.js';
import { certificateCheck } from './certificate.js';
import { imagesCheck } from './images.js';
import { quotasCheck } from './quotas.js';
import { zonesCheck } from './zones.js';

/** Every preflight check, in table order. */
export const CHECKS: readonly Check[] = [
  accountCheck,
  quotasCheck,
  zonesCheck,
  bootstrapCheck,
  certificateCheck,
  artifactsCheck,
  imagesCheck,
];
