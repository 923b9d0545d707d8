// ladet's public API. Sub-paths (ladet/torch, ladet/nn, ...) export the same modules individually.
export * as torch from './torch/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as io from './io/index.js';
export * as evaluation from './eval/index.js';
