// Optimizers, LR schedules and gradient clipping.
export * from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export * from './schedule.js';
export { clipGradNorm } from './clip.js';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './grad_scaler.js';
