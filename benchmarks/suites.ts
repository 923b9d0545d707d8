// The benchmark suites by name. Each returns a JSON-able record.

import { data } from './data.js';

export type Suite = () => Promise<Record<string, unknown>>;

export const suites: Record<string, Suite> = { data };
