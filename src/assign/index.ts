// Label assignment: the Assignment value, max-IoU assignment, the 1-D GMM, PAA re-assignment and ATSS.
export * from './assignment.js';
export * from './max_iou.js';
export * from './gmm.js';
export * from './paa.js';
export * from './atss.js';
export * from './registry.js';
