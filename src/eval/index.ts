// COCO bbox evaluation (pycocotools semantics): readers, the evaluator and the summary print.
export { readCocoGt, parseCocoGt, readJson, type CocoGroundTruth } from './coco_gt.js';
export {
  readDetections,
  detectionsFromList,
  detectionsFromColumns,
  type CocoDetection,
  type DetectionColumns,
  type Detections,
  type ReadDetectionsOptions,
} from './detections.js';
export { evaluateCoco, toDetections, type EvaluateOptions, type CocoEvalResult, type ClassAP } from './coco.js';
export { summarize, formatSummary, formatFixed3, STAT_NAMES, type StatName, type EvalShape } from './summarize.js';
export { IOU_THRESHOLDS, RECALL_THRESHOLDS, AREA_RANGES, AREA_LABELS, DEFAULT_MAX_DETS, linspace } from './params.js';
export { boxIou } from './iou.js';
