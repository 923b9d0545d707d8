// ladet's public API. The high-level part (train a detector, open it, detect objects) is at the top level; the
// building blocks are namespaces, also importable as sub-paths (ladet/torch, ladet/nn, ...).
export * from './api/index.js';
export * as torch from './torch/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as io from './io/index.js';
export * as evaluation from './eval/index.js';
export * as data from './data/index.js';
export * as models from './models/index.js';
