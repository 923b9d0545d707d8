// Loss normalisers under data parallelism. PAA's losses divide by num_pos (and the LAD box loss by the sum of IoU
// targets); with the batch split over ranks each rank must divide by the mean over ranks, as mmdetection's
// reduce_mean(num_pos) in the official PAA / ATSS heads, so that the averaged gradients equal one process's on the
// whole batch. One process: the identity. The trainer sets the reducer while it runs as one rank of a DDP job.

/** Maps each rank's local values to their means over ranks (the same list on every rank). */
export type AvgFactorReducer = (values: readonly number[]) => number[];

let reducer: AvgFactorReducer | null = null;

/** Installs (or with null removes) the reducer; returns the one it replaced. */
export function setAvgFactorReducer(r: AvgFactorReducer | null): AvgFactorReducer | null {
  const before = reducer;
  reducer = r;
  return before;
}

/**
 * Local normalisers -> their means over ranks. Every rank must call this the same number of times per step (it is
 * a collective under DDP), whatever its own values are.
 */
export function reduceAvgFactors(values: readonly number[]): number[] {
  return reducer === null ? [...values] : reducer(values);
}
