// The benchmark suites by name. Each returns a JSON-able record.
import { assign } from './assign.js';
import { colad } from './colad.js';
import { data } from './data.js';
import { det, detCuda } from './det.js';
import { engine } from './engine.js';
import { evalSuite } from './eval.js';
import { io } from './io.js';
import { nms } from './nms.js';
import { precision } from './precision.js';
import { dist } from './dist.js';
import { runtime } from './runtime.js';

export type Suite = () => Promise<Record<string, unknown>>;

export const suites: Record<string, Suite> = {
  engine,
  eval: evalSuite,
  data,
  assign,
  nms,
  det: () => det(),
  det_cuda: detCuda,
  colad,
  runtime,
  io,
  precision,
  dist,
};
