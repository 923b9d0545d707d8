export { weightReduce, type Reduction, type ReduceOptions } from './reduce.js';
export {
  sigmoidFocalLoss,
  sigmoidFocalLossPerAnchor,
  oneHotTargets,
  type FocalOptions,
  type FocalLossOptions,
} from './focal.js';
export { probFocalLoss, probFocalLossPerAnchor } from './prob_focal.js';
export { giouLoss, type GIoULossOptions } from './giou.js';
export { alignedGiou } from '../det/iou.js';
export { iouBceLoss, type IoUBceOptions } from './iou_bce.js';
