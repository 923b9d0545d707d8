// Label assignment: the Assignment value, max-IoU assignment, the 1-D GMM and PAA re-assignment.
export * from './assignment.js';
export * from './max_iou.js';
export * from './gmm.js';
export * from './paa.js';
