// Detection primitives: anchors, box coder, overlaps, NMS, score voting.
export * from './anchors.js';
export * from './box_coder.js';
export * from './iou.js';
export * from './nms.js';
export * from './score_voting.js';
